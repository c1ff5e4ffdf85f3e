"""``diffputer.explore``: the Jupyter explorer, imported only when asked for."""


def explore(obj=None, **kwargs):
    """Show missingness, EM convergence, imputations and pooled estimates in one widget.

    ``obj``: a DataFrame, a ``MultipleImputation``, a fitted ``DiffPuter`` or a
    ``PooledResult``; ``pooled=`` adds pooled estimates. Returns an ``ImputationExplorer``
    (display it, or call its ``fit(df)`` to watch EM converge). Needs the ``widgets`` extra.
    """
    try:
        from diffputer_widgets import explore as make_explorer
    except ImportError as err:
        raise ImportError("diffputer.explore needs ipywidgets and matplotlib: "
                          "pip install 'diffputer[widgets]'") from err
    return make_explorer(obj, **kwargs)
