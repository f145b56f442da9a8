"""The data layer: Reddit-shaped events, dump reading, comment forests and trees.

Everything that reads Reddit data (``models``, ``streaming``, ``training``) imports this
package; it imports none of them. See ``docs/architecture.md``.
"""
