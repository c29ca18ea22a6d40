"""Rendering an email from its template and plain-value context, and the checks a template passes when saved.

Templates run on an engine of their own: Django's built-in filters, no template loaders and no `{% load %}`
libraries, and only the tags of ALLOWED_TAGS, which work on the context's plain values (a tag that reaches outside
them, {% include %}, {% extends %}, {% load %}, {% url %}, {% debug %}, {% csrf_token %}, ..., is refused when the
template is saved). The HTML body is autoescaped, the subject and text body are not."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template import Context, Engine, Node, TemplateSyntaxError
from django.template.base import FilterExpression, Lexer, TokenType, Variable, VariableNode
from django.template.defaulttags import FilterNode, ForNode, WithNode
from django.template.smartif import TokenBase

_engine = Engine(loaders=[], libraries={}, debug=False)

PARTS = ("subject", "body_text", "body_html")
# Names a template may use beside its variables: what Django's own tags bind.
_ALWAYS_KNOWN = {"forloop", "True", "False", "None"}
# The tags a template may use, with their closing and middle parts: those that only shape the context's values.
ALLOWED_TAGS = frozenset(
    {"if", "elif", "else", "endif", "for", "empty", "endfor", "with", "endwith", "comment", "endcomment"}
    | {"spaceless", "endspaceless", "autoescape", "endautoescape", "filter", "endfilter", "firstof", "cycle"}
    | {"resetcycle", "now", "verbatim", "endverbatim", "templatetag", "widthratio"}
)
OPENING_TAGS = sorted(t for t in ALLOWED_TAGS if not t.startswith("end") and t not in {"elif", "else", "empty"})


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body_text: str
    body_html: str


def _expressions(value: Any, depth: int = 0) -> Iterator[FilterExpression]:
    """The filter expressions inside a node's attribute: {{ x }}, {% if x %} conditions, {% for y in x %}."""
    if depth > 6:
        return
    if isinstance(value, FilterExpression):
        yield value
    elif isinstance(value, TokenBase):  # an {% if %} condition: an operator or a literal
        for part in ("value", "first", "second"):
            yield from _expressions(getattr(value, part, None), depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _expressions(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _expressions(item, depth + 1)


def _names_used(expression: FilterExpression) -> Iterator[str]:
    variables = [expression.var] + [arg for _lookup, arg in (a for _f, args in expression.filters for a in args)]
    for variable in variables:
        if isinstance(variable, Variable) and variable.lookups:
            yield variable.lookups[0]


def _walk(nodes) -> Iterator[Node]:
    for node in nodes:
        yield node
        for attr in getattr(node, "child_nodelists", ()):
            yield from _walk(getattr(node, attr, None) or [])
        if hasattr(node, "conditions_nodelists"):  # IfNode keeps its branches here
            for _condition, nodelist in node.conditions_nodelists:
                yield from _walk(nodelist)


def template_variables(source: str) -> tuple[set[str], set[str]]:
    """(names the template reads, names its own tags bind: loop variables, {% with %} names). Raises
    TemplateSyntaxError when it does not parse."""
    template = _engine.from_string(source)
    used: set[str] = set()
    bound: set[str] = set()
    for node in _walk(template.nodelist):
        if isinstance(node, ForNode):
            bound.update(node.loopvars)
        if isinstance(node, WithNode):
            bound.update(node.extra_context)
        if isinstance(node, FilterNode):  # {% filter upper %} is parsed as "var|upper": only its arguments are read
            used.update(list(_names_used(node.filter_expr))[1:])
            continue
        if isinstance(node, VariableNode):
            expressions = [node.filter_expression]
        else:
            expressions = [e for name, v in vars(node).items() if name != "nodelist" for e in _expressions(v)]
            if hasattr(node, "conditions_nodelists"):
                expressions += [e for condition, _n in node.conditions_nodelists for e in _expressions(condition)]
        for expression in expressions:
            used.update(_names_used(expression))
    return used, bound


def tags_used(source: str) -> set[str]:
    """The names of the tags in a template's source ({% if x %} -> "if"), those inside {% verbatim %} aside."""
    return {
        token.split_contents()[0]
        for token in Lexer(source).tokenize()
        if token.token_type == TokenType.BLOCK and token.contents.strip()
    }


def template_check(parts: dict[str, str], *, allowed: set[str]) -> None:
    """Refuse (ValidationError per part) a subject or body that uses a tag outside ALLOWED_TAGS, that does not
    parse, or that reads a variable outside `allowed` (filters on allowed ones are fine)."""
    errors: dict[str, list[str]] = {}
    for part, source in parts.items():
        refused = sorted(tags_used(source) - ALLOWED_TAGS)
        if refused:
            errors.setdefault(part, []).append(
                f"{'These tags are' if len(refused) > 1 else 'This tag is'} not allowed in an email template: "
                f"{', '.join('{% ' + tag + ' %}' for tag in refused)}. It may use "
                f"{', '.join(OPENING_TAGS)}, and filters."
            )
            continue
        try:
            used, bound = template_variables(source)
        except TemplateSyntaxError as error:
            errors.setdefault(part, []).append(f"This template does not parse: {error}")
            continue
        unknown = sorted(used - allowed - bound - _ALWAYS_KNOWN)
        if unknown:
            errors.setdefault(part, []).append(
                f"Unknown variable{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: this email's event "
                f"provides {', '.join(sorted(allowed)) or 'none'}."
            )
    if errors:
        raise ValidationError(errors)


@functools.lru_cache(maxsize=256)
def _compiled(source: str):
    """A template's parsed form, kept per source text: a batch renders one template hundreds of times, and an
    edited template is a new source, so nothing stale is served."""
    return _engine.from_string(source)


def email_render(*, subject: str, body_text: str, body_html: str, context: dict[str, Any]) -> RenderedEmail:
    """The email as sent: the context's plain values plus the common ones (company_name)."""
    values = {"company_name": settings.PORTAL_COMPANY_NAME, **context}
    plain = Context(values, autoescape=False)
    return RenderedEmail(
        # A header is one line: a template's line breaks would make the message malformed.
        subject=" ".join(_compiled(subject).render(plain).split())[:250],
        body_text=_compiled(body_text).render(Context(values, autoescape=False)),
        body_html=_compiled(body_html).render(Context(values, autoescape=True)),
    )
