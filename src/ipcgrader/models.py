"""Pydantic models of exercise specs (``exercise.toml``). No I/O happens here.

Every model forbids unknown keys, so a typo in exercise.toml is an error that names the
field instead of a silently ignored setting. Expectation kinds form a discriminated union on
``kind``; because plugins add kinds, the union is built at run time by
:func:`build_exercise_model` from whatever kinds the plugin manager registered.
"""

from __future__ import annotations

import functools
import re
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    create_model,
    field_validator,
    model_validator,
)

from ipcgrader.entry_points import skip_pydantic_plugin_scan
from ipcgrader.i18n import LANGUAGES, _, localized

# the first model below makes pydantic look for its plugins: skip the scan of every
# installed distribution when none declares any (a third of the command's start-up imports)
skip_pydantic_plugin_scan()

if TYPE_CHECKING:
    from ipcgrader.results import RunRecord, Verdict

StartMethod = Literal["fork", "spawn", "forkserver"]
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _local_text(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A plain string, or a table of it per language: ``{en = "...", zh = "..."}``."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(LANGUAGES))
        if unknown:
            raise ValueError(
                f"languages are {', '.join(LANGUAGES)}; unknown: {', '.join(map(str, unknown))}"
            )
        if not value or not all(isinstance(v, str) and v.strip() for v in value.values()):
            raise ValueError("give a non-empty text for each language")
        return localized(value)
    return handler(value)


#: An exercise's own text (name, message, hint, title): one string, or one per language
#: (``{en = "...", zh = "..."}``); shown in the student's language, else English.
LocalText = Annotated[
    str,
    WrapValidator(_local_text),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {lang: {"type": "string"} for lang in LANGUAGES},
                    "additionalProperties": False,
                    "minProperties": 1,
                },
            ],
            "description": "a text, or one per language: {en = '...', zh = '...'}",
        }
    ),
]


class Strict(BaseModel):
    """Base of every spec model: unknown keys are errors, values are immutable."""

    # built when first used: a command builds only the models of what it uses (the kinds
    # an exercise names, not every kind every plugin registered)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Visibility(str, Enum):
    """When a student may see a check (the names Gradescope uses)."""

    visible = "visible"
    hidden = "hidden"
    after_due_date = "after_due_date"
    after_published = "after_published"


class Limits(Strict):
    """Resource limits of one run. ``None`` leaves a limit at the grader's default."""

    memory_mb: int | None = Field(
        None, gt=0, le=1 << 20, description="address space per process, MiB"
    )
    cpu_s: int | None = Field(None, gt=0, le=86400, description="CPU seconds per process")
    run_cpu_s: float | None = Field(
        None,
        gt=0,
        le=86400,
        description="CPU seconds of the whole run, all its processes together (the ended "
        "ones too), the start-up of each interpreter it starts afresh not counted: a "
        "program that keeps computing is stopped when it has used them up, however loaded "
        "the machine is",
    )
    processes: int | None = Field(None, gt=0, le=100_000, description="live processes in the run")
    output_bytes: int | None = Field(
        None, gt=0, le=1 << 30, description="stdout and stderr cap, each"
    )
    file_bytes: int | None = Field(
        None, gt=0, le=1 << 40, description="largest file a run may write"
    )
    open_files: int | None = Field(
        None, gt=0, le=1 << 20, description="open file descriptors per process"
    )

    def merged(self, override: Limits | None) -> Limits:
        """These limits with every field set in ``override`` replacing ours."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class TraceOptions(Strict):
    """How the harness watches a run (see docs/trace.md)."""

    enabled: bool = Field(True, description="inject the tracing harness into the run")
    dilation: float = Field(
        0.01, gt=0, le=1, description="time.sleep(s) sleeps s * dilation in traced runs"
    )
    amplify: bool = Field(
        False,
        description="workers that read a shared file without a lock wait there for each "
        "other (bounded), so an unprotected read-modify-write really loses an update; queue "
        "and pipe items wait for a taker to ask, so a polling loop really misses them",
    )
    amplify_wait_s: float = Field(0.3, ge=0, le=5, description="bound of that wait")
    atomic_writes: bool = Field(
        True,
        description="an open(shared_file, 'w') becomes visible only when closed, so readers "
        "never see a half-written file (lost updates still happen)",
    )


#: Facts a check can need (``needs = [...]``): what must have happened in a run for the
#: check to judge anything. ``workers``: a child process ran the student's code;
#: ``work``: a child process did something the trace sees (a lock, a shared file, a queue,
#: a pipe, a printed line); ``output``: the run printed at least one line.
Fact = Literal["workers", "work", "output"]


class ObservedNeed(Strict):
    """A need stated on a driver's observations: ``when`` must hold for the check to count."""

    when: str = Field(description="expression over the observations and parameters")
    file: str = Field("observed.json", description="the JSON object the driver wrote")
    message: LocalText = Field(description="why the check cannot count when it does not hold")


class Expectation(Strict):
    """One graded expectation of a scenario. Plugins subclass it with ``kind: Literal[...]``.

    ``evaluate`` judges one run; a check passes only when it passes in every run of its
    scenario (every start method and repeat).
    """

    kind: str
    id: str | None = Field(None, description="stable id; default: <scenario>.<kind>[.n]")
    name: LocalText | None = Field(None, description="short title shown to students")
    points: float = Field(1.0, ge=0)
    message: LocalText | None = Field(None, description="what a failure means, for the student")
    hint: LocalText | None = Field(None, description="what to look at to fix it")
    visibility: Visibility = Visibility.visible
    needs: list[Fact | ObservedNeed] = Field(
        default_factory=list,
        description="what must have happened for this check to count (besides what its kind "
        "needs): a passing verdict on a run where it did not happen is a failure that says so",
    )

    #: What every check of this kind needs (added to ``needs``).
    default_needs: ClassVar[tuple[Fact, ...]] = ()
    #: Title used when the spec gives no ``name`` (marked with ``N_``, translated on use).
    default_name: ClassVar[str] = "expectation"
    #: If True, a run that did not end normally (timeout, crash, student error) fails this
    #: check with the reason, before ``evaluate`` is called. Kinds that judge how a run
    #: ended (exit status, finishing in time) set it to False.
    needs_complete_run: ClassVar[bool] = True
    #: How a kind with ``needs_complete_run = False`` treats a run that did not end
    #: normally, for the reference (docs/authoring.md); None: judged as any run.
    when_stopped: ClassVar[str | None] = None
    #: Whether a pass on a run stopped part-way for spinning (its CPU budget used up, at
    #: whatever point the loop was) holds for the whole run: what it judged was settled
    #: before any stop point (the source, two workers seen at once). Otherwise such a pass
    #: reads "not judged" (``scoring.judge``), the same wherever the run was stopped.
    pass_holds_when_cut: ClassVar[bool] = False

    #: True for kinds whose expressions may use names the loader cannot know in advance
    #: (``json_value``: the keys of a driver's observations): only their form is checked.
    open_names: ClassVar[bool] = False

    def expressions(self) -> list[tuple[str, str]]:
        """``(field, expression)`` pairs of this expectation, which the loader checks
        against the scenario's parameters and the run facts before any run. Kinds with
        fields that take expressions override it."""
        return []

    def pass_holds_when_stopped(self) -> bool:
        """Whether this check's pass on a run stopped part-way still counts (by default
        :attr:`pass_holds_when_cut`; ``json_value`` with ``judge_incomplete``: the author
        says its driver's observations were written as they were made)."""
        return self.pass_holds_when_cut

    def title(self) -> str:
        """The check's name as students see it."""
        return self.name or _(self.default_name)

    def evaluate(self, run: RunRecord) -> Verdict:
        """Judge one run. Subclasses must implement this."""
        raise NotImplementedError(f"expectation kind {self.kind!r} does not implement evaluate")


class Scenario(Strict):
    """One way of driving the submission, with the expectations graded on it."""

    id: str = Field(description="short id, unique in the exercise")
    name: LocalText | None = Field(None, description="title shown to students (default: id)")
    driver: str | None = Field(
        None,
        description=(
            "exercise-owned Python file with drive(student, **params); "
            "absent: run the entry file as a script"
        ),
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="values the driver gets as keywords; names for expressions and $name",
    )
    args: list[str] = Field(
        default_factory=list, description="argv for script runs; $param is substituted"
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="environment variables of the run; $param is substituted",
    )
    fixtures: dict[str, str | dict[str, Any] | list[Any]] = Field(
        default_factory=dict,
        description="files created fresh in the run folder; $param is substituted in text, "
        "tables and arrays are written as JSON",
    )
    collect: list[str] = Field(
        default_factory=list, description="extra files whose final content checks may read"
    )
    start_methods: list[StartMethod] | None = Field(
        None, description="multiprocessing start methods to run under (default: the exercise's)"
    )
    repeats: int = Field(1, ge=1, le=1000, description="runs per start method")
    timeout: float | None = Field(
        None, gt=0, le=3600, description="wall time of one run, seconds (default: the exercise's)"
    )
    limits: Limits | None = Field(None, description="overrides of the exercise's limits")
    trace: TraceOptions | None = Field(None, description="replaces the exercise's trace options")
    expect: list[Expectation] = Field(
        default_factory=list, description="the checks graded on this scenario"
    )

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be letters, digits, '_', '-' or '.'")
        return value


class Exercise(Strict):
    """An exercise: what the student writes and how it is graded."""

    id: str = Field(description="letters, digits, '_', '-' or '.'; names the exercise everywhere")
    title: LocalText = Field(description="shown to students")
    entry: list[str] = Field(min_length=1, description="files the student writes")
    points: float | None = Field(None, ge=0, description="total; must equal the checks' sum")
    shared_files: list[str] = Field(
        default_factory=list, description="files the processes communicate through"
    )
    timeout: float = Field(10.0, gt=0, le=3600, description="wall time of one run, seconds")
    start_methods: list[StartMethod] = Field(
        default_factory=lambda: ["fork"],  # type: ignore[arg-type]
        description="multiprocessing start methods every scenario runs under",
    )
    limits: Limits = Field(default_factory=Limits, description="resource limits of every run")
    trace: TraceOptions = Field(default_factory=TraceOptions, description="how runs are traced")
    scenarios: list[Scenario] = Field(
        min_length=1, description="the ways the submission is run and judged"
    )

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be letters, digits, '_', '-' or '.'")
        return value

    @field_validator("entry")
    @classmethod
    def _entry_files(cls, value: list[str]) -> list[str]:
        for name in value:
            if "/" in name or "\\" in name or not name.endswith(".py"):
                raise ValueError(f"{name!r}: entry files are plain .py file names")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Exercise:
        seen: set[str] = set()
        for scenario in self.scenarios:
            if scenario.id in seen:
                raise ValueError(f"scenario id {scenario.id!r} is used twice")
            seen.add(scenario.id)
        total = sum(e.points for s in self.scenarios for e in s.expect)
        if self.points is not None and abs(total - self.points) > 1e-9:
            raise ValueError(f"points = {self.points:g} but the expectations add up to {total:g}")
        return self

    @property
    def max_score(self) -> float:
        """Sum of the points of every expectation."""
        return sum(e.points for s in self.scenarios for e in s.expect)

    def start_methods_of(self, scenario: Scenario) -> list[StartMethod]:
        """The start methods a scenario runs under (its own or the exercise's)."""
        return list(scenario.start_methods or self.start_methods)

    def trace_of(self, scenario: Scenario) -> TraceOptions:
        """Trace options of a scenario (its own or the exercise's)."""
        return scenario.trace or self.trace


def build_exercise_model(kinds: list[type[Expectation]]) -> type[Exercise]:
    """An :class:`Exercise` model whose expectations are the union of ``kinds``.

    Called by the loader with the kinds the plugin manager registered, so a kind added by a
    plugin validates exactly like a builtin one, and ``ipcgrade schema`` shows it.
    """
    if not kinds:
        raise ValueError("no expectation kinds are registered")
    return _exercise_model(tuple(kinds))


@functools.lru_cache(maxsize=32)
def _exercise_model(kinds: tuple[type[Expectation], ...]) -> type[Exercise]:
    # building a model costs ~0.1 s; every load of every exercise with the same kinds
    # (a batch, the CLI's tests) can share one
    union: Any = kinds[0] if len(kinds) == 1 else Union[tuple(kinds)]  # noqa: UP007
    expectation = Annotated[union, Field(discriminator="kind")]
    scenario: Any = create_model(
        "Scenario",
        __base__=Scenario,
        expect=(
            list[expectation],
            Field(default_factory=list, description="the checks graded on this scenario"),
        ),
    )
    exercise: type[Exercise] = create_model(
        "Exercise",
        __base__=Exercise,
        scenarios=(
            list[scenario],
            Field(min_length=1, description="the ways the submission is run and judged"),
        ),
    )
    return exercise
