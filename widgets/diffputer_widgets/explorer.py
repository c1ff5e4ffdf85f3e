"""The Jupyter explorer: one ipywidgets Tab with the Missingness, Convergence, Imputations and
Pooling views, each a matplotlib figure rendered to PNG (works in JupyterLab, Notebook and Voila
without a matplotlib backend extension).
"""

from __future__ import annotations

import html
import io
import time

import ipywidgets as widgets
import pandas as pd

from . import plots

TAB_TITLES = ("Missingness", "Convergence", "Imputations", "Pooling")


DPI = 90


def figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def show_figure(image: widgets.Image, fig) -> widgets.Image:
    """Put ``fig`` into ``image`` at its own size (not stretched to the tab's width)."""
    image.value = figure_png(fig)
    image.layout.width = f"{round(fig.get_figwidth() * DPI)}px"
    return image


def _message(text: str) -> widgets.HTML:
    return widgets.HTML(f"<p style='color:#555'>{html.escape(text)}</p>")


class ImputationExplorer:
    """Missingness, EM convergence, imputations and pooled estimates in one widget.

    Give it what you have: ``data`` (the incomplete table), ``result`` (a
    ``MultipleImputation``, which carries its data and EM history), ``history`` (a fitted
    model's ``history_``), ``pooled`` (a ``PooledResult``). ``fit(data, **options)`` runs
    ``diffputer.impute`` with :meth:`callback`, so the Convergence tab updates while EM runs;
    :meth:`callback` can also be passed to ``DiffPuter(callback=...)`` directly.
    """

    def __init__(self, data: pd.DataFrame | None = None, *, result=None, history=None,
                 pooled=None, refresh_seconds: float = 1.0):
        self.data = result.data if data is None and result is not None else data
        self.result = result
        self.history = result.history if history is None and result is not None else history
        self.pooled = pooled
        self.refresh_seconds = refresh_seconds
        self.renders = {title: 0 for title in TAB_TITLES}  # views drawn so far, per tab
        self._last_render = 0.0

        self.missingness = widgets.VBox()
        self.convergence_variable = widgets.Dropdown(description="Variable")
        self.convergence_image = widgets.Image(format="png")
        self.convergence_status = widgets.HTML()
        self.convergence = widgets.VBox([self.convergence_variable, self.convergence_status,
                                         self.convergence_image])
        self.imputed_variable = widgets.Dropdown(description="Variable")
        self.imputations_image = widgets.Image(format="png")
        self.imputations = widgets.VBox([self.imputed_variable, self.imputations_image])
        self.pooling = widgets.VBox()
        self.tabs = widgets.Tab(children=[self.missingness, self.convergence, self.imputations,
                                          self.pooling], titles=TAB_TITLES)
        self._updating_options = False  # setting a dropdown's options must not redraw
        self.convergence_variable.observe(self._when_selected(self._render_convergence), names="value")
        self.imputed_variable.observe(self._when_selected(self._render_imputations), names="value")
        self.refresh()

    # -- public -----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw every tab from the current data, history, result and pooled estimates."""
        self._render_missingness()
        self._set_options(self.convergence_variable, self._imputed_variables(self.history))
        self._render_convergence()
        self._set_options(self.imputed_variable, self._imputed_columns())
        self._render_imputations()
        self._render_pooling()

    def callback(self, history) -> None:
        """The engine's callback: after each epoch and EM iteration; redraws at most once per
        ``refresh_seconds``, and always when an EM iteration ends."""
        self.history = history
        iteration_ended = len(history.seconds) == len(history.losses)
        now = time.monotonic()
        if iteration_ended or now - self._last_render >= self.refresh_seconds:
            if iteration_ended:
                self._set_options(self.convergence_variable, self._imputed_variables(history))
            self._render_convergence()

    def fit(self, data: pd.DataFrame | None = None, m: int = 5, **options):
        """Impute ``data`` (default: the explorer's) with diffputer, watching EM converge here."""
        import diffputer

        if data is not None:
            self.data = data
            self._render_missingness()
        if self.data is None:
            raise ValueError("fit needs data: pass a DataFrame here or to the explorer.")
        self.tabs.selected_index = TAB_TITLES.index("Convergence")
        result = diffputer.impute(self.data, m=m, callback=self.callback, **options)
        self.set_result(result)
        return result

    def set_result(self, result) -> None:
        self.result, self.data, self.history = result, result.data, result.history
        self.refresh()

    def set_pooled(self, pooled) -> None:
        self.pooled = pooled
        self._render_pooling()

    @property
    def widget(self) -> widgets.Tab:
        return self.tabs

    def _repr_mimebundle_(self, **kwargs):
        return self.tabs._repr_mimebundle_(**kwargs)

    # -- the tabs ------------------------------------------------------------------------------

    def _render_missingness(self) -> None:
        if self.data is None:
            self.missingness.children = [_message("No data given.")]
            return
        started = time.perf_counter()
        images = [show_figure(widgets.Image(format="png"), make(self.data))
                  for make in (plots.plot_missingness, plots.plot_pattern,
                               plots.plot_nullity_correlation)]
        note = (f"{len(self.data):,} rows x {self.data.shape[1]} columns; patterns counted over "
                f"all rows; drawn in {time.perf_counter() - started:.2f} s")
        self.missingness.children = [_message(note), *images]
        self.renders["Missingness"] += 1

    def _render_convergence(self) -> None:
        history = self.history
        if history is None or not history.losses:
            self.convergence_status.value = _message("No fit yet: call fit(data) to watch EM.").value
            return
        done = len(history.seconds)
        running = len(history.losses) > done
        fig = plots.plot_convergence(history, self.convergence_variable.value)
        show_figure(self.convergence_image, fig)
        epochs, kept = len(history.losses[-1]), history.kept_epoch()
        which = history.kept_reason()
        self.convergence_status.value = (
            f"<b>EM iteration {len(history.losses)}</b>: training, epoch {epochs} "
            f"(weights to keep: epoch {kept}, {which})" if running else
            f"<b>{done} EM iterations done</b>: the last M-step kept the weights of epoch "
            f"{kept} of {epochs} ({which})")
        self._last_render = time.monotonic()
        self.renders["Convergence"] += 1

    def _render_imputations(self) -> None:
        if self.result is None or self.imputed_variable.value is None:
            self.imputations.children = [_message("No imputations yet: call fit(data) or pass "
                                                  "a MultipleImputation.")]
            return
        self.imputations.children = [self.imputed_variable, self.imputations_image]
        fig = plots.plot_imputations(self.result, self.imputed_variable.value)
        show_figure(self.imputations_image, fig)
        self.renders["Imputations"] += 1

    def _render_pooling(self) -> None:
        if self.pooled is None:
            self.pooling.children = [_message("No pooled estimates: pass pooled=result.fit(...) "
                                              "or call set_pooled.")]
            return
        frame = self.pooled.to_frame(conf_int=True)
        caption = f"Rubin's rules over m = {self.pooled.m} imputations"
        self.pooling.children = [widgets.HTML(f"<b>{caption}</b>" + frame.round(4).to_html())]
        self.renders["Pooling"] += 1

    # -- helpers -----------------------------------------------------------------------------

    def _when_selected(self, render):
        return lambda _: None if self._updating_options else render()

    def _set_options(self, dropdown: widgets.Dropdown, options: list) -> None:
        if list(dropdown.options) != options:
            current = dropdown.value
            self._updating_options = True
            try:
                dropdown.options = options
                dropdown.value = current if current in options else (options[0] if options else None)
            finally:
                self._updating_options = False

    @staticmethod
    def _imputed_variables(history) -> list:
        """Variables with imputed cells in the EM record (their chain means are not all NaN)."""
        if history is None or not history.n_iter:
            return []
        means = history.chain_mean
        return [str(v) for j, v in enumerate(history.variables)
                if not pd.isna(means[j]).all()]

    def _imputed_columns(self) -> list:
        if self.result is None:
            return []
        return [c for c in self.result.data.columns if self.result.where[c].any()]


def explore(obj=None, *, pooled=None, **kwargs) -> ImputationExplorer:
    """An :class:`ImputationExplorer` for a DataFrame, a ``MultipleImputation``, a fitted
    ``DiffPuter`` or a ``PooledResult``."""
    import diffputer

    if isinstance(obj, diffputer.PooledResult):
        obj, pooled = None, obj
    if obj is None or isinstance(obj, pd.DataFrame):
        return ImputationExplorer(obj, pooled=pooled, **kwargs)
    if isinstance(obj, diffputer.MultipleImputation):
        return ImputationExplorer(result=obj, pooled=pooled, **kwargs)
    if isinstance(obj, diffputer.DiffPuter):
        if not hasattr(obj, "history_"):
            raise ValueError("The DiffPuter model is not fitted: explore the data instead, or "
                             "call explore(df).fit(...).")
        return ImputationExplorer(history=obj.history_, pooled=pooled, **kwargs)
    raise TypeError("explore takes a DataFrame, a MultipleImputation, a fitted DiffPuter or a "
                    f"PooledResult; got {type(obj).__name__}.")
