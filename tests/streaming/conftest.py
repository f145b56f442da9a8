from tests.e2e_fixtures import eval_slice, tiny_aux_registry, train_slice  # noqa: F401
