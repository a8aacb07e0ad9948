"""Operating points: what the edge sends for one request (mode, precision, retention),
and the registry of modes.

A mode is described once, here, by a :class:`ModeSpec` (what an engine needs to know: does
the request cross the link to the cloud, which cloud jobs batch together, which precisions
and retentions it takes), and its costs once, in :mod:`sim.costs`. No engine names a mode:
adding one is :func:`sim.costs.register_mode` (which registers its spec here too).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.errors import InputError

KV_PRECISIONS = ("bf16", "int8", "int4", "mixed")


@dataclass(frozen=True, slots=True)
class ModeSpec:
    """What the engines and validators know about a mode.

    ``uses_link``: the request sends a payload over the uplink and gets its first token
    from the cloud (False: answered on the edge, no link, no cloud). ``batch_kind``: cloud
    jobs of one kind can share a batch (``prefill``: the cloud model prefills the prompt;
    ``kv``: the edge model decodes on a received cache; ``edge``: never reaches the cloud).
    ``precisions``: the precisions the mode accepts (None: any). ``has_retention``: whether
    a retention below 1 means anything.
    """

    name: str
    uses_link: bool = True
    batch_kind: str = "prefill"
    precisions: tuple[str, ...] | None = None
    has_retention: bool = True


#: every known mode by name, in registration order
MODE_SPECS: dict[str, ModeSpec] = {
    "kv": ModeSpec("kv", batch_kind="kv", precisions=KV_PRECISIONS),
    "scout": ModeSpec("scout"),
    "cloud-text": ModeSpec("cloud-text", has_retention=False),
    "edge-local": ModeSpec("edge-local", uses_link=False, batch_kind="edge",
                           has_retention=False),
}
#: the names of MODE_SPECS (kept in step by :func:`register_mode_spec`)
MODES: list[str] = list(MODE_SPECS)


def register_mode_spec(spec: ModeSpec) -> None:
    """Make a new mode known to validation (use :func:`sim.costs.register_mode`, which
    also gives it costs). Re-registering a name replaces its spec."""
    if spec.batch_kind not in ("prefill", "kv", "edge"):
        raise ValueError(f"batch_kind must be prefill, kv or edge, not {spec.batch_kind!r}")
    if spec.uses_link == (spec.batch_kind == "edge"):
        raise ValueError("a mode answers on the edge (uses_link=False) exactly when its "
                         "batch_kind is 'edge'")
    MODE_SPECS[spec.name] = spec
    if spec.name not in MODES:
        MODES.append(spec.name)


def unregister_mode_spec(name: str) -> None:
    """Forget a registered mode (for tests)."""
    MODE_SPECS.pop(name, None)
    if name in MODES:
        MODES.remove(name)


def mode_spec(name: str) -> ModeSpec:
    """The spec of a known mode; InputError listing the known ones otherwise."""
    spec = MODE_SPECS.get(name)
    if spec is None:
        raise InputError(f"unknown mode {name!r}; known: {', '.join(MODES)}")
    return spec


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """One choice a policy can make.

    - ``kv``: the edge model's KV-cache at ``precision``, pruned to ``retention`` of the
      context positions chosen by ``selection``; the cloud decodes with the edge model.
    - ``scout``: indices of ``retention`` of the context positions (edge model's attention,
      ``selection``); the cloud re-prefills with its own model and masks its cache.
    - ``cloud-text``: the text; full cloud prefill. ``edge-local``: answer on the edge.
    """

    mode: str
    precision: str = "bf16"
    retention: float = 1.0
    selection: str = "q2c"

    def __post_init__(self) -> None:
        spec = mode_spec(self.mode)
        if spec.precisions is not None and self.precision not in spec.precisions:
            what = "KV precision" if self.mode == "kv" else f"{self.mode} precision"
            raise InputError(f"unknown {what} {self.precision!r}; "
                             f"known: {', '.join(spec.precisions)}")
        if not (0 < self.retention <= 1):
            raise InputError(f"retention must be in (0, 1], not {self.retention}")
        if not spec.has_retention and self.retention != 1:
            raise InputError(f"mode {self.mode} has no retention")

    @property
    def spec(self) -> ModeSpec:
        """The mode's :class:`ModeSpec`."""
        return MODE_SPECS[self.mode]

    @property
    def label(self) -> str:
        """Short name, e.g. ``kv-int8@100%`` or ``scout@50%``."""
        spec = MODE_SPECS[self.mode]
        precision = f"-{self.precision}" if spec.precisions is not None else ""
        pct = f"@{self.retention * 100:g}%" if spec.has_retention else ""
        return f"{self.mode}{precision}{pct}"
