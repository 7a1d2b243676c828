"""A report as a list of blocks, rendered to GitHub Markdown (figures beside it) and one self-contained HTML."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Items:
    items: list[str]  # a numbered list


@dataclass
class Figure:
    path: Path  # a PNG under the report's folder
    caption: str


def to_markdown(blocks: list, root: Path) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Paragraph):
            out.append(b.text)
        elif isinstance(b, Table):
            out.append("| " + " | ".join(b.header) + " |")
            out.append("|" + "---|" * len(b.header))
            out += ["| " + " | ".join(row) + " |" for row in b.rows]
        elif isinstance(b, Items):
            out += [f"{i}. {item}" for i, item in enumerate(b.items, start=1)]
        elif isinstance(b, Figure):
            out.append(f"![{b.caption}]({b.path.relative_to(root).as_posix()})\n\n*{b.caption}*")
        out.append("")
    return "\n".join(out)


_MARKDOWN = MarkdownIt("commonmark", {"html": False})  # text is text: a stray <b> is shown, not obeyed


def _inline(text: str) -> str:
    """A block's Markdown text (bold, code, links, as the Markdown file has it) as HTML, by a Markdown library:
    the regular expressions this replaced did not know escapes, nesting or underscores."""
    return _MARKDOWN.renderInline(text)


def to_html(blocks: list, title: str) -> str:
    body = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            body.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{_inline(h)}</th>" for h in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(b, Items):
            body.append("<ol>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ol>")
        elif isinstance(b, Figure):
            data = base64.b64encode(b.path.read_bytes()).decode()
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(b.caption)}">'
                        f"<figcaption>{_inline(b.caption)}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.25em .6em}"
             "img{max-width:100%}figcaption{font-style:italic;color:#444}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
