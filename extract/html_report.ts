/**
 * The HTML report of `extract`: one self-contained page (inline CSS, no external resources, readable
 * offline and without JavaScript) that shows each document's text with every grounded span
 * highlighted, beside the list of what was extracted, and flags the strings that were not found in
 * the text.
 *
 * Spans may overlap or nest (an entity inside a relation's tail, the head of one relation that is
 * the tail of another). The text is cut at every span boundary and the spans become nested `<mark>`
 * elements: a span that encloses another, or that equals it, encloses its mark; a span that only
 * partly overlaps another is split into several marks, joined by their `data-span`. The text content
 * of a document's `.text` element is the document's text, code unit for code unit (carriage returns
 * included); only NUL characters and lone surrogates, which HTML cannot carry, are not kept.
 *
 * DOM, for tools and tests: `section.doc[data-id]` per document, holding `.text` (the document
 * body, with `mark[data-span][data-label][data-start][data-end]`, offsets in UTF-16 code units of
 * the piece the mark covers) and `.extractions` (an `ol` of `li.item.<kind>`, with
 * `.span[data-span]` per string and the class `ungrounded` on strings not found and on their items);
 * `.legend li[data-label]` per label and `[data-count]` figures in the header.
 *
 * @module
 */

import { type DocumentExtractions, type Extraction, type Span, spansOf } from "./types.ts";

/** A document's extractions with the text they were found in. */
export interface ReportDocument extends DocumentExtractions {
  /** The document's text (the offsets of its spans are UTF-16 indices into it). */
  text: string;
}

/** What the report's header says. */
export interface ReportOptions {
  /** The page's title (default `iepile extract report`). */
  title?: string;
  /** The task shown in the header (`NER`, `RE`, …); omitted when undefined. */
  task?: string;
  /** When the report was made (an ISO date, say), shown in the header; omitted when undefined. */
  generated?: string;
}

/** Light backgrounds that keep dark text readable, given to labels in first-seen order. */
const PALETTE = [
  "#ffd54f",
  "#81d4fa",
  "#a5d6a7",
  "#f8bbd0",
  "#d1c4e9",
  "#ffcc80",
  "#80cbc4",
  "#e6ee9c",
  "#b0bec5",
  "#ffab91",
  "#c5e1a5",
  "#9fa8da",
];

/** The background of the `i`-th label: the palette, then hues a golden angle apart. */
function colourOf(i: number): string {
  return i < PALETTE.length ? PALETTE[i] : `hsl(${Math.round((i * 137.508) % 360)} 75% 82%)`;
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  // A character reference: the HTML parser turns a raw CR (and CRLF) into LF, but keeps `&#13;`.
  "\r": "&#13;",
};

/** Text or an attribute value as HTML. */
function esc(s: string): string {
  return s.replace(/[&<>"'\r]/g, (c) => ESCAPES[c]);
}

/** Where a span is: highlighted, not found, empty, or with offsets that do not fit the text. */
type Placement = "mark" | "missing" | "empty" | "outside";

function placementOf(span: Span, length: number): Placement {
  if (!span.grounded) return "missing";
  const { start, end } = span;
  if (!Number.isInteger(start) || !Number.isInteger(end)) return "outside";
  if (start! < 0 || end! > length || start! > end!) return "outside";
  return start === end ? "empty" : "mark";
}

/** A span of one document, numbered in reading order of the document's extractions. */
interface Numbered {
  /** Its number in the document (`data-span`). */
  k: number;
  label: string;
  colour: number;
  span: Span;
  placement: Placement;
}

/** A span to highlight. */
interface Placed extends Numbered {
  start: number;
  end: number;
}

/** Labels in first-seen order across the report, with their colour index and how many spans have them. */
function collectLabels(docs: readonly ReportDocument[]): Map<string, { colour: number; count: number }> {
  const labels = new Map<string, { colour: number; count: number }>();
  for (const doc of docs) {
    for (const x of doc.extractions) {
      for (const { label } of spansOf(x)) {
        const seen = labels.get(label);
        if (seen) seen.count++;
        else labels.set(label, { colour: labels.size, count: 1 });
      }
    }
  }
  return labels;
}

/**
 * A document's text as HTML with its spans as nested marks. Boundaries are sorted once and each
 * span is opened and closed with a stack, so the work is the text's length plus the marks written.
 */
function renderText(text: string, spans: readonly Placed[], doc: number): string {
  const order = spans.slice().sort((a, b) => a.start - b.start || b.end - a.end || a.k - b.k);
  const bounds = [...new Set(order.flatMap((s) => [s.start, s.end]))].sort((a, b) => a - b);
  const out: string[] = [];
  const stack: Array<{ span: Placed; at: number; slot: number }> = [];
  let pos = 0;
  let next = 0;
  for (const b of bounds) {
    out.push(esc(text.slice(pos, b)));
    pos = b;
    // Close every span that ends here; those opened after one of them but ending later are reopened.
    const low = stack.findIndex((o) => o.span.end === b);
    const opening: Placed[] = [];
    while (low >= 0 && stack.length > low) {
      const open = stack.pop()!;
      out[open.slot] = openTag(open.span, open.at, b, doc);
      out.push("</mark>");
      if (open.span.end !== b) opening.push(open.span);
    }
    while (next < order.length && order[next].start === b) opening.push(order[next++]);
    // The longest outside, so that nested spans are never split.
    opening.sort((x, y) => y.end - x.end || x.start - y.start || x.k - y.k);
    for (const span of opening) {
      stack.push({ span, at: b, slot: out.length });
      out.push("");
    }
  }
  out.push(esc(text.slice(pos)));
  return out.join("");
}

function openTag(p: Placed, start: number, end: number, doc: number): string {
  const first = start === p.start;
  const match = p.span.match && p.span.match !== "exact" ? `\n${p.span.match} match of "${p.span.text}"` : "";
  const title = `${p.label}\n"${p.span.text}" at ${p.start}–${p.end}${match}`;
  return `<mark class="c${p.colour}${first ? "" : " cont"}"${first ? ` id="d${doc}-s${p.k}"` : ""} data-span="${p.k}"` +
    ` data-label="${esc(p.label)}" data-start="${start}" data-end="${end}" title="${esc(title)}">`;
}

/** One string of an extraction in the list: a link to its mark, or flagged when it cannot be shown. */
function chip(n: Numbered, doc: number): string {
  const attrs = `data-span="${n.k}" data-label="${esc(n.label)}"`;
  const text = esc(n.span.text);
  switch (n.placement) {
    case "mark":
      return `<a class="span c${n.colour}" href="#d${doc}-s${n.k}" ${attrs} title="${esc(n.label)}">${text}</a>`;
    case "missing":
      return `<span class="span ungrounded" ${attrs} title="${esc(n.label)}: not found in the text">${text}</span>` +
        `<span class="note">⚠ not found in the text</span>`;
    case "outside":
      return `<span class="span outside" ${attrs} title="${esc(n.label)}">${text}</span>` +
        `<span class="note">⚠ offsets outside the text</span>`;
    case "empty":
      return `<span class="span empty" ${attrs} title="${esc(n.label)}">${text || "(empty)"}</span>`;
  }
}

/** One extraction as a list item. */
function renderItem(x: Extraction, spans: readonly Numbered[], doc: number): string {
  const c = (i: number): string => chip(spans[i], doc);
  const ungrounded = spans.some((s) => s.placement === "missing");
  const kind = `<span class="kind">${x.kind === "kg" ? "KG" : x.kind}</span>`;
  const args = (rows: Array<[string, number]>): string =>
    rows.length
      ? `<ul class="args">${
        rows.map(([name, i]) => `<li><span class="role">${esc(name)}</span>: ${c(i)}</li>`).join("")
      }</ul>`
      : "";
  let body: string;
  switch (x.kind) {
    case "entity":
      body = `${kind}<span class="type">${esc(x.type)}</span> ${c(0)}`;
      break;
    case "relation":
      body = `${kind}${c(0)} <span class="rel">— ${esc(x.relation)} →</span> ${c(1)}`;
      break;
    case "event": {
      const t = x.trigger ? 1 : 0;
      body =
        `${kind}<span class="type">${esc(x.type)}</span> ${x.trigger ? c(0) : `<span class="none">no trigger</span>`}` +
        args(x.arguments.map((a, i) => [a.role, t + i]));
      break;
    }
    case "kg":
      body = `${kind}<span class="type">${esc(x.type)}</span> ${c(0)}` +
        args(x.attributes.map((a, i) => [a.attribute, 1 + i]));
      break;
  }
  return `<li class="item ${x.kind}${ungrounded ? " ungrounded" : ""}">${body}</li>`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `<b>${n}</b> ${n === 1 ? one : many}`;
}

const STYLE = `
:root{color-scheme:light;--fg:#1f2933;--muted:#616e7c;--line:#dfe3e8;--bg:#f4f6f8;--warn:#b42318}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:var(--bg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",
"Noto Sans CJK SC","PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif,"Noto Color Emoji","Apple Color Emoji"}
header{padding:1.1rem 1.5rem .9rem;background:#fff;border-bottom:1px solid var(--line)}
h1{margin:0 0 .2rem;font-size:1.3rem}
.meta,.counts{margin:.1rem 0;color:var(--muted);font-size:.9rem}
.counts b{color:var(--fg)}
.counts .bad b{color:var(--warn)}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:.35rem .45rem;margin:.7rem 0 0;padding:0}
.legend li{display:inline-flex;align-items:center;gap:.35rem;padding:.05rem .55rem .05rem .35rem;background:#fff;
border:1px solid var(--line);border-radius:999px;font-size:.82rem}
.legend .n{color:var(--muted)}
.swatch{display:inline-block;width:.85rem;height:.85rem;border-radius:3px;border:1px solid rgba(0,0,0,.15)}
main{padding:1rem 1.5rem 2rem;display:grid;gap:1rem}
.doc{background:#fff;border:1px solid var(--line);border-radius:8px;padding:.9rem 1.2rem 1rem;min-width:0}
.doc h2{margin:0 0 .6rem;font-size:1rem;display:flex;flex-wrap:wrap;gap:.3rem .8rem;align-items:baseline}
.doc h2 .stats{font-weight:normal;color:var(--muted);font-size:.82rem}
.doc-body{display:grid;grid-template-columns:minmax(0,3fr) minmax(15rem,2fr);gap:1.4rem;align-items:start}
@media (max-width:760px){.doc-body{grid-template-columns:minmax(0,1fr)}}
.text{white-space:pre-wrap;overflow-wrap:anywhere;font-size:1.02rem;line-height:2.15;margin:0}
mark{color:inherit;border-radius:3px;padding:.36em 0;-webkit-box-decoration-break:clone;box-decoration-break:clone}
mark mark{padding:.2em 0}
mark mark mark{padding:.05em 0}
mark mark mark mark{padding:0}
mark.hl,mark:target{outline:2px solid var(--fg);outline-offset:1px}
.extractions{font-size:.9rem;border-left:1px solid var(--line);padding-left:1.1rem}
@media (max-width:760px){.extractions{border-left:0;padding-left:0;border-top:1px solid var(--line);padding-top:.6rem}}
.extractions ol{margin:0;padding-left:1.5rem}
.item{margin:.1rem 0 .5rem}
.kind{display:inline-block;min-width:4.2em;margin-right:.35rem;color:var(--muted);font-size:.7rem;text-transform:uppercase;
letter-spacing:.04em}
.type{font-weight:600;margin-right:.3rem}
.span{display:inline-block;padding:0 .4rem;border-radius:4px;border:1px solid rgba(0,0,0,.12);color:inherit;
text-decoration:none;line-height:1.45}
a.span:hover,a.span:focus{outline:2px solid var(--fg)}
.span.ungrounded,.span.outside{background:#fdecea;border-color:#f4c7c3;color:var(--warn);text-decoration:line-through}
.span.empty{color:var(--muted)}
.note{margin-left:.35rem;color:var(--warn);font-size:.78rem}
.rel{color:var(--muted);margin:0 .15rem}
.none,.nothing{color:var(--muted);font-style:italic}
.args{list-style:none;margin:.25rem 0 0 .2rem;padding-left:.7rem;border-left:2px solid var(--line)}
.args li{margin:.15rem 0}
.role{color:var(--muted)}
`;

/** Hovering a string in the list outlines all the marks of its span (the page works without it). */
const SCRIPT = `
for (const a of document.querySelectorAll(".extractions [data-span]")) {
  const marks = () => a.closest(".doc").querySelectorAll('mark[data-span="' + a.dataset.span + '"]');
  a.addEventListener("mouseenter", () => marks().forEach((m) => m.classList.add("hl")));
  a.addEventListener("mouseleave", () => marks().forEach((m) => m.classList.remove("hl")));
}
`;

/**
 * Render documents and their extractions as one self-contained HTML page: a header with the
 * counts and a legend (label → colour), then per document its text with every grounded span
 * highlighted (nested `<mark>` elements, colour per label, offsets and label in `data-*` attributes
 * and a tooltip) beside the list of extractions, where strings not found in the text are struck
 * through and flagged. Two columns on wide screens, one on narrow ones.
 *
 * @param docs the documents with their text and extractions (offsets in UTF-16 code units)
 * @param options the page's title, the task and when it was generated, for the header
 * @returns the page (`<!doctype html>` …), to be written as UTF-8
 *
 * @example
 * ```ts
 * import { renderReport } from "./html_report.ts";
 * const html = renderReport([{
 *   id: "d1",
 *   text: "Ann lives in Oslo.",
 *   extractions: [
 *     { kind: "entity", type: "PER", text: "Ann", start: 0, end: 3, grounded: true },
 *     { kind: "entity", type: "LOC", text: "Paris", start: null, end: null, grounded: false },
 *   ],
 * }], { task: "NER" });
 * if (!html.includes('data-label="PER" data-start="0" data-end="3"')) throw new Error("no mark");
 * if (!html.includes('<li class="item entity ungrounded">')) throw new Error("not flagged");
 * ```
 */
export function renderReport(docs: readonly ReportDocument[], options: ReportOptions = {}): string {
  const title = options.title ?? "iepile extract report";
  const labels = collectLabels(docs);
  let extractions = 0;
  let highlighted = 0;
  let ungrounded = 0;
  const sections = docs.map((doc, d) => {
    let k = 0;
    const perItem = doc.extractions.map((x) =>
      spansOf(x).map(({ label, span }): Numbered => ({
        k: k++,
        label,
        colour: labels.get(label)!.colour,
        span,
        placement: placementOf(span, doc.text.length),
      }))
    );
    const all = perItem.flat();
    const placed = all.filter((n) => n.placement === "mark")
      .map((n): Placed => ({ ...n, start: n.span.start!, end: n.span.end! }));
    const missing = all.filter((n) => n.placement === "missing").length;
    extractions += doc.extractions.length;
    highlighted += placed.length;
    ungrounded += missing;
    const items = doc.extractions.map((x, i) => renderItem(x, perItem[i], d)).join("\n");
    const stats = `${doc.extractions.length} extraction${doc.extractions.length === 1 ? "" : "s"}` +
      (missing ? ` · ${missing} not found in the text` : "");
    return `<section class="doc" id="d${d}" data-id="${esc(doc.id)}">
<h2><span class="doc-id">${esc(doc.id)}</span><span class="stats">${stats}</span></h2>
<div class="doc-body">
<div class="text">${renderText(doc.text, placed, d)}</div>
<aside class="extractions">${items ? `<ol>\n${items}\n</ol>` : `<p class="nothing">No extractions.</p>`}</aside>
</div>
</section>`;
  });

  const meta = [
    options.task === undefined ? "" : `task <b>${esc(options.task)}</b>`,
    options.generated === undefined ? "" : `generated <time>${esc(options.generated)}</time>`,
  ].filter((s) => s !== "");
  const counts = [
    `<span data-count="documents">${plural(docs.length, "document")}</span>`,
    `<span data-count="extractions">${plural(extractions, "extraction")}</span>`,
    `<span data-count="highlighted">${plural(highlighted, "span")} highlighted</span>`,
    `<span data-count="ungrounded"${
      ungrounded ? ` class="bad"` : ""
    }><b>${ungrounded}</b> not found in the text</span>`,
  ];
  const legend = [...labels].map(([label, { colour, count }]) =>
    `<li data-label="${esc(label)}"><span class="swatch c${colour}"></span>${
      esc(label)
    } <span class="n">${count}</span></li>`
  );
  const colours = [...labels.values()].map(({ colour }) => `.c${colour}{background:${colourOf(colour)}}`);

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}${colours.join("\n")}
</style>
</head>
<body>
<header>
<h1>${esc(title)}</h1>
${meta.length ? `<p class="meta">${meta.join(" · ")}</p>\n` : ""}<p class="counts">${counts.join(" · ")}</p>
${legend.length ? `<ul class="legend">\n${legend.join("\n")}\n</ul>` : ""}
</header>
<main>
${sections.length ? sections.join("\n") : `<p class="nothing">No documents.</p>`}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
