"""Optuna's own figures of the search: optimization history and parameter importances, with
parameter paths and choices in the report's words. (The parallel coordinates are drawn by
:mod:`sweepnp.report.figures.parallel`: Optuna's hid the worst trials.)

They are functions of an Optuna study, so this is the one module of the report that hands
``res.study`` to anything. Optuna draws with pyplot and switches to the ggplot style sheet: each
figure is drawn inside ``rc_context`` and closed in pyplot at once, so that neither the style nor
the figure leaks into the caller's session.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sweepnp.report.figures.canvas import Drawn, Skipped, pyplot
from sweepnp.report.words import choice_names, metric_words, param_words
from sweepnp.study.space import encode_value

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sweepnp.results import StudyResults

__all__ = ["objective_words", "optuna_figures"]


def optuna_figures(res: StudyResults) -> list[Drawn | Skipped]:
    """``optimization_history`` and ``param_importances``, each drawn or
    skipped with the reason (too few completed trials or varying parameters, or Optuna's own)."""
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.visualization import matplotlib as optuna_plots

    complete = int((res.trials["state"] == "complete").sum()) if len(res.trials) else 0
    objective = objective_words(res)

    def importances(study: Any, **options: Any) -> Any:
        # fANOVA with a fixed seed: the same study always gives the same importances. It answers
        # the report's question, which parameter moves the metric across the search, also for
        # the few trials of a small study, where PED-ANOVA's best 10% is a trial or two. The
        # caption names the evaluator optuna-dashboard uses (PED-ANOVA), whose bars differ.
        evaluator = FanovaImportanceEvaluator(seed=0)
        return optuna_plots.plot_param_importances(study, evaluator=evaluator, **options)

    figures = [
        (
            "optimization_history",
            optuna_plots.plot_optimization_history,
            f"Optuna's optimization history: each completed trial's objective ({objective}) "
            "in the order the trials ran, and the best value so far.",
        ),
        (
            "param_importances",
            importances,
            f"Optuna's parameter importances (fANOVA, seed 0): the share of the variance of "
            f"{objective} across completed trials that each parameter explains. "
            "optuna-dashboard (and Optuna's own default) ranks parameters with PED-ANOVA "
            "instead (how much each matters for reaching the best 10% of trials), so its bars "
            "may differ.",
        ),
    ]
    drawn: list[Drawn | Skipped] = []
    for name, draw, caption in figures:
        why = _why_not(name, complete, _varying_params(res) if complete else [])
        if why:
            drawn.append(Skipped(name, why))
            continue
        try:
            drawn.append(Drawn(name, _optuna_figure(res, draw), caption))
        except Exception as exc:  # Optuna refuses some study shapes: say so, do not crash
            drawn.append(Skipped(name, f"Optuna could not draw it: {exc}"))
    return drawn


def _why_not(name: str, complete: int, varying: list[str]) -> str | None:
    """Why an Optuna figure cannot be drawn from this study, or None."""
    needed = 1 if name == "optimization_history" else 2
    if complete < needed:
        return f"needs {needed} completed trial{'s' * (needed > 1)}, the study has {complete}"
    if name == "param_importances" and len(varying) < 2:
        return (
            "needs 2 parameters that vary across completed trials "
            f"({len(varying)} does: its importance would be 1 by definition)"
        )
    return None


def _varying_params(res: StudyResults) -> list[str]:
    """The parameters that took more than one value among completed trials."""
    complete = res.trials[res.trials["state"] == "complete"]
    return [p for p in res.param_columns if complete[p].astype(str).nunique(dropna=True) > 1]


def objective_words(res: StudyResults) -> str:
    """What Optuna was told per trial: the mean over repeats, or its pessimistic bound."""
    words = metric_words(res.metrics[0])
    if res.spec.study.aggregate == "lcb" and res.spec.study.repeats > 1:
        return f"{words} (95% bound over repeats)"
    return words


def _optuna_figure(res: StudyResults, draw: Callable[..., Any]) -> Figure:
    """Run one of ``optuna.visualization.matplotlib``'s functions and hand back its figure,
    already closed in pyplot, with parameter paths in words on its ticks. Optuna switches to
    the ggplot style sheet globally: ``rc_context`` puts the caller's style back."""
    import optuna

    plt = pyplot()
    options: dict[str, Any] = {"target_name": objective_words(res)}
    if res.spec.multi_objective:  # Optuna needs one number per trial
        options["target"] = lambda trial: trial.values[0]
    with plt.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fig = draw(res.study, **options).figure
        plt.close(fig)  # it stays drawable; pyplot just forgets it
    words = _tick_words(res)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            texts = [tick.get_text() for tick in axis.get_ticklabels()]
            if any(text in words for text in texts):
                axis.set_ticks(axis.get_ticklocs(), [words.get(text, text) for text in texts])
        legend = ax.get_legend()
        for text in legend.get_texts() if legend is not None else []:
            if text.get_text() in res.metrics:  # the importances' key said "val_accuracy"
                text.set_text(metric_words(text.get_text()))
    fig.set_size_inches(8, 4.8)
    fig.set_layout_engine("tight")
    return fig


def _tick_words(res: StudyResults) -> dict[str, str]:
    """Tick text on Optuna's figures → the report's words: parameter paths, and choices as
    Optuna shows them (str of the stored value: JSON for tables and lists, ``False``)."""
    words = {path: param_words(path) for path in res.param_columns}
    for param in res.space.params:
        if param.kind == "categorical":
            for choice, name in zip(param.choices, choice_names(param.choices), strict=True):
                words[str(encode_value(choice))] = name if len(name) <= 24 else name[:23] + "…"
    return words
