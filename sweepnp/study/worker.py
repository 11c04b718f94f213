"""The worker: ask Optuna for a trial, train it, tell Optuna; in one process or many.

:func:`run_study` creates (or continues) the study and runs :func:`work` in this process and, with
``jobs > 1``, in forked worker processes. Each worker repeats, under the storage's budget lock:
recover dead workers' trials, count, ask; then trains the trial (:mod:`sweepnp.study.trial`) and
stores its outcome in one write. Ctrl-C interrupts training at once but never a storage write.

:func:`work` runs one of two loops: the one-at-a-time loop here (``stack = 1``), or the stacked
loop (:class:`sweepnp.study.stacked_loop.StackedLoop`). The steps both share are in
:mod:`sweepnp.study.ask_tell`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage

from sweepnp.errors import ArgumentError, StudyNameTaken, SweepnpError
from sweepnp.garbage import settled
from sweepnp.plugins import PluginManager, get_plugin_manager
from sweepnp.study import storage as storages
from sweepnp.study.ask_tell import (
    WAIT,
    InterruptGuard,
    OnTrial,
    SaidOnce,
    WaitForOthers,
    WorkerJob,
    finish_trial,
    interrupt_trial,
    next_trial,
    told,
)
from sweepnp.study.budget import StudyBudget, counted_trials
from sweepnp.study.progress import ProgressBoard
from sweepnp.study.record import CONFIG_ATTR, FINGERPRINT_ATTR, SEEDS_ATTR, WORKER_ATTR
from sweepnp.study.registry import WorkerRegistry
from sweepnp.study.spec import StudySpec, adopt_seed_scheme, load_spec
from sweepnp.study.stack_size import auto_stack_size, network_shape
from sweepnp.study.stacked_loop import StackedLoop
from sweepnp.study.trial import TrialRun, run_configuration

__all__ = ["WorkerJob", "counted_trials", "create_study", "run_study", "work"]


def create_study(
    spec: StudySpec, storage_url: str | None, storage: BaseStorage | None = None
) -> optuna.Study:
    """Create the study, or check that the stored one is this same study, and return it; give
    ``spec`` the study's seed scheme (stored at creation: the file's, default ``paired``).

    :param storage: the storage ``storage_url`` names, already open.
    """
    storage = storage or storages.open_storage(storage_url)
    fingerprint = spec.fingerprint()
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage)
    except KeyError:
        study = optuna.create_study(
            study_name=spec.name,
            storage=storage,
            directions=spec.directions,
            load_if_exists=True,
        )
        study.set_user_attr(SEEDS_ATTR, spec.study.seeds or "paired")
        adopt_seed_scheme(spec, study)
        study.set_user_attr(CONFIG_ATTR, spec.raw)
        study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
        _name_metrics(study, spec)
        return study
    stored = study.user_attrs.get(FINGERPRINT_ATTR)
    if stored is not None and stored != fingerprint:
        raise StudyNameTaken(
            f"a study named {spec.name!r} with another configuration exists in "
            f"{storages.describe(storage_url)}; give this one another name, or delete the old one",
            study=spec.name,
            source=spec.source,
            key="study.name",
        )
    if study.metric_names is None:  # a study created before sweepnp named them
        _name_metrics(study, spec)
    adopt_seed_scheme(spec, study)
    return study


def _name_metrics(study: optuna.Study, spec: StudySpec) -> None:
    """Name the study's objectives after its metrics (``val_accuracy``, not "Objective 0"), as
    optuna-dashboard, ``trials_dataframe`` and Optuna's plots show them."""
    with warnings.catch_warnings():  # experimental since Optuna 3.2, and unchanged since
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(spec.metrics))


def work(
    job: WorkerJob,
    on_trial: OnTrial | None = None,
    board: ProgressBoard | None = None,
    storage: BaseStorage | None = None,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Ask, train and tell until the study holds ``n_trials`` counted trials; return how many ran.

    Under the storage's budget lock the count and the ``ask`` are one step, so workers — in
    parallel processes or on other machines — never overshoot ``n_trials``. Before counting,
    trials of dead workers are failed and queued again. When the budget is spent but other
    workers' trials are still running, this worker waits for them: if one's worker dies, its
    trial is run again here, so the study ends with ``n_trials`` finished trials.

    :param board: where the trials this worker trains, and their trainers, are shown to a
        progress display.
    :param storage: ``job.storage`` already opened in this process (not in a parent: a
        forked worker opens its own connections).
    :param stop: asked at every check for a Ctrl-C: ``True`` stops this worker as a Ctrl-C
        does, its running trials stored as interrupted (a loop on a Dask worker).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pm = job.plugin_manager or get_plugin_manager()
    spec = job.spec or load_spec(job.file, name=job.name, plugin_manager=pm)
    if storage is None:
        storage = storages.open_storage(job.storage)
    # Trials stored before this worker started: a continued study's sampler must not replay
    # the random start of the first run (make_sampler's resumed_at).
    stored = storage.get_n_trials(storage.get_study_id_from_name(spec.name))
    study = optuna.load_study(
        study_name=spec.name,
        storage=storages.cached(storage),
        sampler=spec.sampler(job.worker, batch=job.stack > 1, resumed_at=stored),
        pruner=spec.pruner(),
    )
    adopt_seed_scheme(spec, study)
    identity = storages.worker_identity()
    storages.label_new_trials(storage, {WORKER_ATTR: identity, **job.labels})
    interval, grace = storages.heartbeat_settings()
    # On a storage of several machines, workers started together do not know each other yet.
    shared = job.join_window and storages.shared_by_machines(storage)
    window = WorkerRegistry.start_up_window() if shared else 0.0
    registry = WorkerRegistry(study, identity, interval=interval, grace=grace, join_window=window)
    guard = InterruptGuard(stop)
    with guard.installed():
        try:
            registry.beat()
            if job.stack > 1:
                loop = StackedLoop(
                    job, spec, study, storage, guard, identity, pm, on_trial, board, registry
                )
                return loop.run()
            return _work_loop(
                job, spec, study, storage, guard, identity, pm, on_trial, board, registry
            )
        except Exception as exc:
            failure = storages.storage_failure(exc, job.storage)
            if failure is not None:
                raise failure from exc
            raise
        finally:
            with contextlib.suppress(Exception):  # the storage may be what failed
                registry.leave()


def _work_loop(
    job: WorkerJob,
    spec: StudySpec,
    study: optuna.Study,
    storage: BaseStorage,
    guard: InterruptGuard,
    identity: str,
    pm: PluginManager,
    on_trial: OnTrial | None,
    board: ProgressBoard | None = None,
    registry: WorkerRegistry | None = None,
) -> int:
    ran = 0
    waiting = WaitForOthers()
    budget = StudyBudget(recover_every=storages.heartbeat_settings()[0])
    while True:
        if job.deadline is not None and time.time() >= job.deadline:
            break
        trial = next_trial(job, spec, study, storage, registry=registry, budget=budget)
        if trial is None:
            break
        if trial is WAIT:
            if not job.wait_for_others:
                break
            waiting.wait(study, guard, on_trial)
            continue
        waiting.stop()
        run, trainers = TrialRun(spec), []  # what a Ctrl-C finds trained
        try:
            # RDB storages get Optuna's heartbeat while the trial runs (it only beats by
            # itself in optimize()); its first beat is written before the worker label.
            with storages.heartbeat(study, trial):
                if trial.user_attrs.get(WORKER_ATTR) != identity:
                    # At once, so that a trial whose process dies is recognized as stale (on
                    # the journal a new trial has it from its creation; an enqueued one not).
                    trial.set_user_attr(WORKER_ATTR, identity)
                for key, value in job.labels.items():
                    if trial.user_attrs.get(key) != value:  # an enqueued trial
                        trial.set_user_attr(key, value)
                with storages.batched(storage):  # the parameters in one append
                    params = spec.space.suggest(trial)
                guard.check()
                training = _kept(trainers, board, trial.number, spec.study.repeats)
                # Ctrl-C stops training at once, never a storage write.
                with guard.allowed():
                    outcome = run_configuration(
                        spec, params, trial=trial, pm=pm, on_trainer=training, run=run
                    )
        except KeyboardInterrupt:
            with guard.deferred():
                # The repeat training when Ctrl-C came (not yet taken by the run), if any.
                current = {len(trainers) - 1: trainers[-1]} if trainers else {}
                interrupt_trial(study, trial, run.interrupted({}, current) if trainers else None)
            raise
        finally:
            if board is not None:
                board.ended(trial.number)
        finish_trial(study, trial, outcome)
        ran += 1
        if on_trial is not None:
            on_trial(study, told(study, trial))
        guard.check()  # a Ctrl-C during the bookkeeping: the trial is safely stored
    return ran


def _kept(
    trainers: list[Any], board: ProgressBoard | None, number: int, repeats: int
) -> Callable[[Any], None]:
    """What is called with each repeat's trainer: keep it (a Ctrl-C records how far it got),
    and show it on the progress ``board``."""

    def training(trainer: Any) -> None:
        trainers.append(trainer)
        if board is not None:
            board.training(number, trainer, repeats=repeats)

    return training


def resolve_stack(
    spec: StudySpec, stack: int | str | None = None, pm: PluginManager | None = None
) -> int:
    """How many runs a worker trains at once: ``stack`` (an argument, ``--stack``), else the
    file's ``[study] stack``; ``"auto"``: what pays for the study's network on this machine,
    measured (:func:`~sweepnp.study.stack_size.auto_stack_size`)."""
    setting = spec.study.stack if stack is None else stack
    if setting == "auto":
        return auto_stack_size(network_shape(spec, pm or get_plugin_manager()))
    if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
        raise ArgumentError(
            f'must be a whole number >= 1 or "auto", got {setting!r}', argument="stack"
        )
    return setting


def _worker_process(job: WorkerJob, errors: Any) -> None:
    """A forked worker: work, and hand a user-facing error to the parent instead of printing a
    traceback (the parent reports it once)."""
    from threadpoolctl import threadpool_limits

    code = 0
    # Ctrl-C reaches every process of the group and the parent reports it: this one stops
    # quietly, and ignores another once work is over — one arriving while threadpoolctl or
    # multiprocessing wind down printed a traceback.
    with contextlib.suppress(KeyboardInterrupt):
        try:
            with threadpool_limits(limits=1):
                work(job)
        except SweepnpError as exc:
            errors.put(str(exc))
            code = 2
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


def run_study(
    file: str | Path | Mapping[str, Any],
    *,
    storage: str | None = None,
    n_trials: int | None = None,
    jobs: int = 1,
    stack: int | str | None = None,
    name: str | None = None,
    on_trial: OnTrial | None = None,
    plugin_manager: PluginManager | None = None,
    spec: StudySpec | None = None,
    board: ProgressBoard | None = None,
) -> optuna.Study:
    """Run (or continue) a study on this machine until it holds ``n_trials`` trials; return
    the Optuna study (on a Dask cluster: :func:`sweepnp.study.cluster.run_on_cluster`).

    With ``jobs > 1`` this process is worker 0 and forks ``jobs - 1`` more: forked workers start
    at once with everything imported. Each opens its own storage handle, seeds its own sampler
    (``seed + worker``) and uses one BLAS thread (with one job too: the networks are small). When a
    worker dies (killed, out of memory), this process collects it, fails its trial and runs the
    trial again, so the command still ends with ``n_trials`` finished trials.

    :param stack: runs each worker trains at once (stacked trials, :mod:`sweepnp.run_stack`), or
        ``"auto"``; default: the file's ``[study] stack``. 1 trains one trial at a time.
    :param on_trial: called with the study and the trial that just ended after each trial this
        process runs, and with the latest trial about twice a second while other workers
        finish.
    :param plugin_manager: the plugins to build runs with (default: the installed ones).
    :param spec: ``file`` already loaded with :func:`load_spec` (with ``name``), so that it is
        not validated twice.
    :param board: told what this process trains, for a progress display
        (:class:`~sweepnp.study.progress.ProgressBoard`).
    """

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if spec is None:
        spec = load_spec(file, name=name, plugin_manager=plugin_manager)
    total = n_trials if n_trials is not None else spec.study.n_trials
    deadline = time.time() + spec.study.timeout if spec.study.timeout else None
    handle = storages.open_storage(storage)
    study = create_study(spec, storage, handle)
    if board is not None:
        board.opened(study)
    job_file: str | dict[str, Any] = str(file) if isinstance(file, str | Path) else dict(file)

    runs_at_once = resolve_stack(spec, stack, plugin_manager)
    said = SaidOnce(shared=jobs > 1)  # a notice once per run, not once per worker

    def job(worker: int, wait_for_others: bool = True) -> WorkerJob:
        return WorkerJob(
            job_file,
            name,
            storage,
            total,
            deadline,
            worker,
            plugin_manager,
            spec,
            runs_at_once,
            said,
            workers=max(1, jobs),
            wait_for_others=wait_for_others,
        )

    # The modules, the study as read and the data live all run: out of the collector's passes.
    with settled():
        _run_workers(job, jobs, study, handle, on_trial, board)
    return study


def _run_workers(
    job: Callable[..., WorkerJob],
    jobs: int,
    study: optuna.Study,
    handle: Any,
    on_trial: OnTrial | None,
    board: ProgressBoard | None,
) -> None:
    """Run this process's worker, and with ``jobs > 1`` fork the others and collect them."""
    from threadpoolctl import threadpool_limits

    if jobs <= 1:
        # One BLAS thread: a study's networks are small, and a second thread only waits (and
        # takes the core another worker or stack would use).
        with threadpool_limits(limits=1):
            work(job(0), on_trial=on_trial, board=board, storage=handle)
        return
    storages.dispose_connections(handle)  # no pooled connection may be shared with a child
    context = multiprocessing.get_context("fork")
    errors = context.SimpleQueue()
    children = [
        context.Process(target=_worker_process, args=(job(w, False), errors))
        for w in range(1, jobs)
    ]
    with board.forking() if board is not None else contextlib.nullcontext():
        for child in children:
            child.start()
    try:
        with threadpool_limits(limits=1):
            # Every worker ends once the budget is spent; then this one joins the children
            # and waits for any trial still running (of other commands), running again the
            # trial of any worker that died (a zombie is dead).
            work(job(0, False), on_trial=on_trial, board=board, storage=handle)
            for child in children:
                while child.is_alive():
                    child.join(timeout=0.5)
                    if on_trial is not None:
                        on_trial(study, study.get_trials(deepcopy=False)[-1])
            # A child that died last: its trial runs here.
            work(job(0), on_trial=on_trial, board=board, storage=handle)
    except BaseException:
        _stop_children(children)
        raise
    if not errors.empty():
        raise SweepnpError(errors.get())


def _stop_children(children: list[Any]) -> None:
    """Interrupt the children as Ctrl-C would (each stores its running trial as interrupted)."""
    for child in children:
        if child.is_alive() and child.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGINT)
    for child in children:
        child.join(timeout=30)
