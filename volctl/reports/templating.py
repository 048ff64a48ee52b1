"""The only home of jinja2: one Environment over the top-level `templates/` folder, strict about
undefined names (a typo in a template is an error, not an empty string)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

import volctl
from volctl.domain.figures import interval_text, lift_text


def templates_dir() -> Path:
    """`templates/` beside the package in a checkout; inside the package in an installed wheel."""
    packaged = Path(volctl.__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(volctl.__file__).resolve().parents[1] / "templates"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir()), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                             autoescape=jinja2.select_autoescape(["html.j2"]))
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, indent=indent)
    env.filters["lift"] = lift_text
    env.filters["interval"] = interval_text
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
