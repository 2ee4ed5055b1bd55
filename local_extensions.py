"""Jinja filters that render a cookiecutter answer as a valid literal of the target language.

Registered in cookiecutter.json `_extensions`; cookiecutter puts the template folder on sys.path
while it renders (checked with 2.7.1; cruft supports such local extensions since 2.15), so this
module imports as `local_extensions`. Use the filters wherever an answer lands inside code, so
that quotes, backslashes, `'''` or non-ASCII text in a name or description cannot end a string:

    description = {{ cookiecutter.description | toml_string }}        # pyproject.toml
    {{ cookiecutter.description | py_docstring }}                      # a module docstring

Each literal is the form black already writes (its quote choice, its docstring padding), so the
baked code is lint-clean whatever the answer. Jinja's `tojson` is not enough: black rewrites its
`"...\\"..."` literals, it writes emoji as surrogate pairs that TOML refuses, and it turns
non-ASCII names into \\uXXXX; here non-ASCII text stays as it is.
"""

from jinja2.ext import Extension

# Short escapes both languages share; other control characters use the numeric forms below.
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _is_control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0


def toml_string(value: object) -> str:
    """Returns `value` as a TOML basic string ("..."), escaping what TOML requires."""
    out = []
    for char in str(value):
        if char in '"\\':
            out.append("\\" + char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif _is_control(char):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def py_string(value: object) -> str:
    """Returns `value` as a one-line Python string literal in the quotes black would choose."""
    text = str(value)
    # black keeps double quotes unless single quotes need fewer escapes.
    quote = "'" if text.count('"') > text.count("'") else '"'
    out = []
    for char in text:
        if char in (quote, "\\"):
            out.append("\\" + char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif _is_control(char) or 0xD800 <= ord(char) < 0xE000:  # controls, lone surrogates
            out.append(f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return quote + "".join(out) + quote


def py_docstring(value: object) -> str:
    """Returns `value` as a one-line docstring literal that black leaves as it is."""
    literal = py_string(str(value).strip())
    # black pads a docstring whose text ends with its quote character by one space.
    if len(literal) > 2 and literal[-2] == literal[-1]:
        literal = literal[:-1] + " " + literal[-1]
    return literal


class EscapeExtension(Extension):
    """Adds the filters toml_string, py_string and py_docstring."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["toml_string"] = toml_string
        environment.filters["py_string"] = py_string
        environment.filters["py_docstring"] = py_docstring
