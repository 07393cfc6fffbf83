"""Node parameters declared once, with descriptions, checked at start-up and on every change."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult

from dancemosaic_core.common.errors import DanceMosaicError


@dataclass
class Param:
    default: Any
    description: str
    check: Callable[[Any], str | None] | None = None   # value -> problem and fix, None when fine
    read_only: bool = False                             # fixed once the node runs


def number(low: float, high: float, *, above: bool = False) -> Callable[[Any], str | None]:
    """A finite number in low..high (above=True: strictly above low). Every bound that sizes work
    has an upper end too (docs/ros.md, "Bounds")."""
    allowed = f"a finite number {'>' if above else '>='} {low:g} and <= {high:g}"

    def check(value) -> str | None:
        fine = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and \
            (value > low if above else value >= low) and value <= high
        return None if fine else f"{value!r} must be {allowed}"
    return check


def integer(low: int, high: int) -> Callable[[Any], str | None]:
    """An integer in low..high."""
    return lambda value: None if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high \
        else f"{value!r} must be an integer in {low}..{high}"


def one_of(*choices) -> Callable[[Any], str | None]:
    return lambda value: None if value in choices else f"{value!r} must be one of {', '.join(map(repr, choices))}"


def declare_parameters(node, params: dict[str, Param]) -> dict[str, Any]:
    """Declare every parameter on `node` and return their values; raise DanceMosaicError naming
    every bad value (from a parameters file or the command line)."""
    values, problems = {}, []
    for name, spec in params.items():
        descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
        values[name] = node.declare_parameter(name, spec.default, descriptor).value
        problem = spec.check(values[name]) if spec.check else None
        if problem:
            problems.append(f"{name}: {problem}")
    if problems:
        raise DanceMosaicError(f"{node.get_name()}: bad parameters: {'; '.join(problems)}; fix them in "
                               "config/ros/dance.yaml or the --ros-args -p overrides")
    return values


def check_changes(params: dict[str, Param], changes) -> SetParametersResult:
    """The on-set-parameters verdict for `changes` (rclpy Parameter list)."""
    for parameter in changes:
        spec = params.get(parameter.name)
        if spec is None:
            continue
        problem = spec.check(parameter.value) if spec.check else None
        if problem:
            return SetParametersResult(successful=False, reason=f"{parameter.name}: {problem}")
    return SetParametersResult(successful=True)
