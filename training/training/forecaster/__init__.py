"""Training the trajectory forecaster: dataset, topic model, models, ranking report."""

__all__: list[str] = []
