/**
 * The `extract` HTML report (`extract/html_report.ts`): escaping, the document text kept exactly,
 * nested and overlapping spans, UTF-16 offsets after an emoji, ungrounded strings, checked on the
 * HTML itself; then the page opened in headless Chromium (driven over the DevTools protocol) and
 * checked in its DOM: marks per label, each mark's text at its offsets, the text content, the
 * ungrounded items, every mark visible, no resource loaded, one column on a narrow screen, and a
 * PNG screenshot (kept at `$IEPILE_REPORT_SCREENSHOT` when that is set). The browser test is skipped,
 * with a notice, where no Chromium is on `PATH`.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { renderReport, type ReportDocument } from "../extract/html_report.ts";
import { spansOf } from "../extract/types.ts";
import { CHROMIUM, HEADLESS_FLAGS } from "./_browser.ts";
import { skipNotice, tempDir } from "./_shared.ts";

if (!CHROMIUM) skipNotice(import.meta.url, "the report in headless Chromium", "no chromium on PATH");

/** A grounded span at hand-counted UTF-16 offsets. */
function at(text: string, start: number, end: number) {
  return { text, start, end, grounded: true };
}

const MISSING = { start: null, end: null, grounded: false } as const;

/**
 * Three documents: Chinese (spans shared by entities, relations and an event, a date nested in a
 * longer date), English with an emoji first, CRLF line ends, a span that partly overlaps another
 * and one string not in the text, and a KG entity whose attribute partly overlaps a span with an emoji.
 */
const DOCS: ReportDocument[] = [
  {
    id: "zh-1",
    text: "2023年，张三在北京创办了星火科技公司。\n他是公司的CEO。",
    extractions: [
      { kind: "entity", type: "PER", ...at("张三", 6, 8) },
      { kind: "entity", type: "LOC", ...at("北京", 9, 11) },
      { kind: "entity", type: "ORG", ...at("星火科技公司", 14, 20) },
      { kind: "relation", relation: "创始人", head: at("星火科技公司", 14, 20), tail: at("张三", 6, 8) },
      { kind: "relation", relation: "位于", head: at("星火科技公司", 14, 20), tail: at("北京", 9, 11) },
      {
        kind: "event",
        type: "创办",
        trigger: at("创办", 11, 13),
        arguments: [{ role: "创办者", ...at("张三", 6, 8) }, { role: "时间", ...at("2023年", 0, 5) }],
      },
      { kind: "entity", type: "DATE", ...at("2023", 0, 4) },
    ],
  },
  {
    id: "en-2",
    text: "🚀 Ada Lovelace met Charles Babbage in London.\r\nBabbage designed the Analytical Engine.\r\n",
    extractions: [
      { kind: "entity", type: "PER", ...at("Ada Lovelace", 3, 15) },
      { kind: "entity", type: "PER", ...at("Charles Babbage", 20, 35) },
      { kind: "entity", type: "LOC", ...at("London", 39, 45) },
      {
        kind: "event",
        type: "Meet",
        trigger: at("met", 16, 19),
        arguments: [
          { role: "participant", ...at("Ada Lovelace", 3, 15) },
          { role: "participant", ...at("Charles Babbage", 20, 35) },
          { role: "place", ...at("London", 39, 45) },
        ],
      },
      { kind: "entity", type: "MISC", ...at("Babbage in London", 28, 45) },
      { kind: "relation", relation: "designed", head: at("Babbage", 48, 55), tail: at("Analytical Engine", 69, 86) },
      { kind: "entity", type: "PER", text: "Alan Turing", ...MISSING },
    ],
  },
  {
    id: "kg-3",
    text: "Marie Curie (1867–1934) won the Nobel Prize twice 🏅.",
    extractions: [
      {
        kind: "kg",
        type: "person",
        entity: at("Marie Curie", 0, 11),
        attributes: [
          { attribute: "born", ...at("1867", 13, 17) },
          { attribute: "died", ...at("1934", 18, 22) },
          { attribute: "award", ...at("Nobel Prize", 32, 43) },
        ],
      },
      { kind: "entity", type: "MISC", ...at("Prize twice 🏅", 38, 52) },
    ],
  },
];

/**
 * Marks per label, counted by hand: one per grounded span, and one more for each span cut by
 * another span's edge (`Babbage in London` by `Charles Babbage`, `Prize twice 🏅` by `Nobel Prize`).
 */
const MARKS_PER_LABEL: Record<string, number> = {
  "PER": 3,
  "LOC": 2,
  "ORG": 1,
  "创始人 (head)": 1,
  "创始人 (tail)": 1,
  "位于 (head)": 1,
  "位于 (tail)": 1,
  "创办 (trigger)": 1,
  "创办: 创办者": 1,
  "创办: 时间": 1,
  "DATE": 1,
  "Meet (trigger)": 1,
  "Meet: participant": 2,
  "Meet: place": 1,
  "MISC": 4,
  "designed (head)": 1,
  "designed (tail)": 1,
  "person": 1,
  "person: born": 1,
  "person: died": 1,
  "person: award": 1,
};

/** Each grounded span of a document, numbered as the report numbers them (`data-span`). */
function spansOfDoc(doc: ReportDocument): Array<{ k: number; label: string; start: number; end: number }> {
  return doc.extractions.flatMap(spansOf).flatMap(({ label, span }, k) =>
    span.grounded ? [{ k, label, start: span.start!, end: span.end! }] : []
  );
}

// ---------------------------------------------------------------------------------------------
// Reading the HTML back without a browser.

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"' };

function unescape(s: string): string {
  return s.replace(
    /&(?:(amp|lt|gt|quot)|#(\d+));/g,
    (_, name: string | undefined, code: string | undefined) => name ? NAMED[name] : String.fromCharCode(Number(code)),
  );
}

interface ParsedMark {
  attrs: Record<string, string>;
  /** Where its text starts and ends in the unescaped body. */
  at: number;
  to: number;
  depth: number;
  parent?: ParsedMark;
}

/** The bodies (`.text`) of a report's documents: their text and marks. */
function parseBodies(html: string): Array<{ id: string; text: string; marks: ParsedMark[] }> {
  const docs = [];
  for (
    const m of html.matchAll(/<section class="doc"[^>]*data-id="([^"]*)">[\s\S]*?<div class="text">([\s\S]*?)<\/div>/g)
  ) {
    let text = "";
    const marks: ParsedMark[] = [];
    const open: ParsedMark[] = [];
    for (const t of m[2].matchAll(/<mark\b([^>]*)>|<\/mark>|[^<]+/g)) {
      if (t[0].startsWith("<mark")) {
        const attrs = Object.fromEntries([...t[1].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], unescape(a[2])]));
        const mark = { attrs, at: text.length, to: -1, depth: open.length, parent: open.at(-1) };
        marks.push(mark);
        open.push(mark);
      } else if (t[0] === "</mark>") {
        open.pop()!.to = text.length;
      } else {
        ok(!t[0].includes(">"), `a raw ">" in ${JSON.stringify(t[0])}`);
        text += unescape(t[0]);
      }
    }
    equal(open.length, 0, "every mark is closed");
    docs.push({ id: unescape(m[1]), text, marks });
  }
  return docs;
}

/** Check a document's marks against its spans: offsets, text, and every character under its label. */
function checkMarks(doc: ReportDocument, marks: readonly ParsedMark[]): void {
  for (const mark of marks) {
    equal(Number(mark.attrs["data-start"]), mark.at, "data-start is where the mark is");
    equal(Number(mark.attrs["data-end"]), mark.to, "data-end is where the mark ends");
  }
  for (const span of spansOfDoc(doc)) {
    const pieces = marks.filter((m) => m.attrs["data-span"] === String(span.k));
    ok(pieces.length > 0, `span ${span.k} (${span.label}) has a mark`);
    equal(pieces.map((p) => doc.text.slice(p.at, p.to)).join(""), doc.text.slice(span.start, span.end));
    for (const p of pieces) equal(p.attrs["data-label"], span.label);
    // Pieces tile the span: each starts where the previous ended.
    deepEqual(pieces.map((p) => p.at), [span.start, ...pieces.slice(0, -1).map((p) => p.to)]);
    equal(pieces.at(-1)!.to, span.end);
  }
}

Deno.test("extract HTML report", async (t) => {
  const html = renderReport(DOCS, { title: "Demo report", task: "NER", generated: "2025-01-02T03:04:05Z" });

  await t.step("the fixture's offsets are where its strings are", () => {
    for (const doc of DOCS) {
      for (const s of spansOfDoc(doc)) {
        equal(doc.text.slice(s.start, s.end), doc.extractions.flatMap(spansOf)[s.k].span.text);
      }
    }
  });

  await t.step("each document's text is kept exactly (CRLF, emoji, CJK)", () => {
    const bodies = parseBodies(html);
    deepEqual(bodies.map((b) => b.id), DOCS.map((d) => d.id));
    for (const [i, b] of bodies.entries()) equal(b.text, DOCS[i].text);
    ok(
      /\.&#13;\n<mark[^>]*>Babbage/.test(html),
      "CR written as a character reference (the parser would drop a raw one)",
    );
  });

  await t.step("nested and overlapping spans: marks at their offsets, every character under its label", () => {
    const bodies = parseBodies(html);
    const perLabel: Record<string, number> = {};
    for (const [i, b] of bodies.entries()) {
      checkMarks(DOCS[i], b.marks);
      for (const m of b.marks) perLabel[m.attrs["data-label"]] = (perLabel[m.attrs["data-label"]] ?? 0) + 1;
    }
    deepEqual(perLabel, MARKS_PER_LABEL);
    // Nesting, not splitting, where spans nest: 2023 inside 2023年; the three 张三 spans one in another.
    const zh = bodies[0].marks;
    const date = zh.find((m) => m.attrs["data-label"] === "DATE")!;
    equal(date.parent?.attrs["data-label"], "创办: 时间");
    deepEqual(zh.filter((m) => m.at === 6).map((m) => [m.attrs["data-label"], m.depth]), [
      ["PER", 0],
      ["创始人 (tail)", 1],
      ["创办: 创办者", 2],
    ]);
    // The partial overlap: "Babbage in London" is cut where "Charles Babbage" ends.
    const misc = bodies[1].marks.filter((m) => m.attrs["data-label"] === "MISC");
    deepEqual(misc.map((m) => [m.at, m.to]), [[28, 35], [35, 45]]);
    equal(misc[0].parent?.attrs["data-label"], "Meet: participant");
  });

  await t.step("offsets are UTF-16 indices: a span after an emoji", () => {
    const ada = parseBodies(html)[1].marks.find((m) => m.attrs["data-span"] === "0")!;
    deepEqual([ada.at, ada.to], [3, 15]);
    equal(DOCS[1].text.slice(ada.at, ada.to), "Ada Lovelace");
    ok(html.includes('data-label="PER" data-start="3" data-end="15"'));
    ok(html.includes('data-label="MISC" data-start="38" data-end="43"'), "a piece before the emoji");
    ok(html.includes('data-label="MISC" data-start="43" data-end="52"'), "a piece ending after the emoji");
  });

  await t.step("ungrounded strings are listed and flagged, not highlighted", () => {
    const items = [...html.matchAll(/<li class="item [a-z]+ ungrounded">[\s\S]*?<\/li>/g)].map((m) => m[0]);
    equal(items.length, 1);
    ok(items[0].includes("Alan Turing") && items[0].includes("not found in the text"));
    ok(items[0].includes('class="span ungrounded"'));
    ok(!parseBodies(html)[1].marks.some((m) => m.attrs["data-span"] === "10"), "no mark for it");
    ok(html.includes('<span data-count="ungrounded" class="bad"><b>1</b> not found in the text</span>'));
    ok(html.includes('<span data-count="extractions"><b>16</b> extractions</span>'));
  });

  await t.step("header, legend, colours in first-seen order", () => {
    ok(html.includes("<title>Demo report</title>") && html.includes("task <b>NER</b>"));
    ok(html.includes("<time>2025-01-02T03:04:05Z</time>"));
    const legend = [...html.matchAll(/<li data-label="([^"]*)"><span class="swatch c(\d+)">/g)];
    deepEqual(legend.map((m) => unescape(m[1])), Object.keys(MARKS_PER_LABEL));
    deepEqual(legend.map((m) => Number(m[2])), legend.map((_, i) => i));
    ok(html.includes(".c0{background:#ffd54f}"), "PER, seen first, gets the first colour");
    // The same label has the same colour in every document.
    ok(html.includes('class="c0" id="d0-s0"') && html.includes('class="c0" id="d1-s0"'));
    const plain = renderReport(DOCS.slice(0, 1));
    ok(!plain.includes('class="meta"') && !plain.includes("<time>"), "no task or date line when none is given");
    ok(plain.includes("<title>iepile extract report</title>"));
  });

  await t.step("escapes text, ids and labels", () => {
    const text = `x </script><b>bold</b> & "q" 'a'`;
    const nasty: ReportDocument = {
      id: `<id "1">&`,
      text,
      extractions: [{ kind: "entity", type: `<b>&"x"`, ...at("</script>", 2, 11) }],
    };
    const page = renderReport([nasty], { title: "<T>", task: "&", generated: '"now"' });
    equal(page.split("</script>").length, 2, "only the page's own script ends");
    ok(!page.includes("<b>bold") && !page.includes('<b>&"x"') && !page.includes("<T>"));
    ok(page.includes('data-label="&lt;b&gt;&amp;&quot;x&quot;"'));
    ok(page.includes('data-id="&lt;id &quot;1&quot;&gt;&amp;"'));
    const [body] = parseBodies(page);
    equal(body.id, nasty.id);
    equal(body.text, text);
    checkMarks(nasty, body.marks);
  });

  await t.step("no documents", () => {
    const page = renderReport([]);
    ok(page.includes("No documents.") && !page.includes("<section") && !page.includes("<mark"));
    ok(page.includes('<span data-count="documents"><b>0</b> documents</span>'));
    ok(!page.includes('class="legend"'));
  });

  await t.step("bad offsets are flagged, empty spans listed, neither highlighted", () => {
    const page = renderReport([{
      id: "b",
      text: "abc",
      extractions: [
        { kind: "entity", type: "X", ...at("zz", 2, 9) },
        { kind: "entity", type: "Y", ...at("", 1, 1) },
      ],
    }]);
    ok(!page.includes("<mark") && page.includes("offsets outside the text") && page.includes('class="span empty"'));
    equal(parseBodies(page)[0].text, "abc");
  });

  await t.step("a long document with many overlapping spans renders in linear time", () => {
    const n = 40_000;
    const text = "word ".repeat(n);
    const extractions = Array.from({ length: n }, (_, i) => ({
      kind: "entity" as const,
      type: i % 2 ? "A" : "B",
      // Each span covers its word and the next: every span partly overlaps its neighbours.
      ...at(text.slice(5 * i, 5 * i + 9), 5 * i, Math.min(5 * i + 9, text.length)),
    }));
    const t0 = performance.now();
    const page = renderReport([{ id: "long", text, extractions }]);
    const ms = performance.now() - t0;
    ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
    const [body] = parseBodies(page);
    equal(body.text, text);
    equal(body.marks.length, 2 * n - 1, "each span cut once by the next (the last one whole)");
  });
});

// ---------------------------------------------------------------------------------------------
// Headless Chromium over the DevTools protocol.

/** A DevTools protocol connection: commands (optionally to a session) and the events that arrive. */
class Cdp {
  readonly #ws: WebSocket;
  #id = 0;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #waiters: Array<{ method: string; resolve: (params: unknown) => void }> = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data as string);
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`DevTools: ${msg.error.message}`));
        else p?.resolve(msg.result);
      } else {
        const i = this.#waiters.findIndex((w) => w.method === msg.method);
        if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(msg.params);
      }
    };
  }

  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
    return new Cdp(ws);
  }

  // deno-lint-ignore no-explicit-any
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<any> {
    const id = ++this.#id;
    this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    return withTimeout(new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject })), method);
  }

  /** The next event `method` (register before causing it). */
  next(method: string): Promise<unknown> {
    return withTimeout(new Promise((resolve) => this.#waiters.push({ method, resolve })), method);
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((r) => this.#ws.addEventListener("close", r, { once: true }));
    this.#ws.close();
    await closed;
  }
}

async function withTimeout<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Start headless Chromium with a throw-away profile, connect to it, and run `use` with a page
 * session; the browser (its whole process group) is killed and the profile removed afterwards,
 * whatever happens.
 */
async function withChromium(use: (cdp: Cdp, session: string) => Promise<void>): Promise<void> {
  const profile = await Deno.makeTempDir({ prefix: "iepile-chromium-" });
  const child = new Deno.Command(CHROMIUM!, {
    args: [
      ...HEADLESS_FLAGS,
      "--hide-scrollbars",
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    // Its own process group, so that its helper processes end with it.
    detached: true,
  }).spawn();
  let log = "";
  let announce!: (url: string) => void;
  const listening = new Promise<string>((r) => announce = r);
  const drained = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) {
      log = (log + dec.decode(chunk, { stream: true })).slice(-8000);
      const m = log.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) announce(m[1]);
    }
  })();
  let cdp: Cdp | undefined;
  try {
    const exited = child.status.then((s) => Promise.reject(new Error(`chromium exited (${s.code}):\n${log}`)));
    const url = await withTimeout(Promise.race([listening, exited]), "chromium's DevTools address", 15_000);
    cdp = await Cdp.connect(url);
    const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
    await use(cdp, sessionId);
  } finally {
    await cdp?.close();
    for (const [signal, wait] of [["SIGTERM", 5000], ["SIGKILL", 0]] as const) {
      try {
        Deno.kill(-child.pid, signal);
      } catch {
        // the group is gone
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([child.status, new Promise((r) => timer = setTimeout(r, wait))]);
      clearTimeout(timer);
    }
    await child.status;
    await drained.catch(() => {});
    for (let i = 0; i < 5; i++) {
      try {
        await Deno.remove(profile, { recursive: true });
        break;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

/** What the page's DOM says, gathered in the page. */
const INSPECT = `(async () => {
  await document.fonts.ready;
  const docs = [...document.querySelectorAll("section.doc")].map((s) => {
    const body = s.querySelector(".text");
    const marks = [...body.querySelectorAll("mark")].map((m) => {
      const before = document.createRange();
      before.setStart(body, 0);
      before.setEndBefore(m);
      const box = m.getBoundingClientRect();
      return {
        span: Number(m.dataset.span), label: m.dataset.label, start: Number(m.dataset.start), end: Number(m.dataset.end),
        at: before.toString().length, text: m.textContent, width: box.width, height: box.height,
        background: getComputedStyle(m).backgroundColor,
      };
    });
    return {
      id: s.dataset.id, text: body.textContent, whiteSpace: getComputedStyle(body).whiteSpace, marks,
      ungrounded: [...s.querySelectorAll(".extractions li.item.ungrounded")].map((li) => li.textContent),
      flagged: s.querySelectorAll(".extractions .span.ungrounded").length,
      items: s.querySelectorAll(".extractions li.item").length,
    };
  });
  const legend = Object.fromEntries([...document.querySelectorAll(".legend li")]
    .map((li) => [li.dataset.label, getComputedStyle(li.querySelector(".swatch")).backgroundColor]));
  const counts = Object.fromEntries([...document.querySelectorAll("[data-count]")]
    .map((e) => [e.dataset.count, Number(e.querySelector("b").textContent)]));
  return { docs, legend, counts, resources: performance.getEntriesByType("resource").length };
})()`;

/** Whether the first document's list sits below its text (one column) rather than beside it. */
const STACKED = `(() => {
  const doc = document.querySelector("section.doc");
  const text = doc.querySelector(".text").getBoundingClientRect();
  const list = doc.querySelector(".extractions").getBoundingClientRect();
  return list.top >= text.bottom && Math.abs(list.left - text.left) < 1;
})()`;

Deno.test({
  name: "extract HTML report in headless Chromium",
  ignore: !CHROMIUM,
  async fn() {
    await using tmp = await tempDir();
    const page = `${tmp.dir}/report.html`;
    const png = `${tmp.dir}/report.png`;
    await Deno.writeTextFile(page, renderReport(DOCS, { task: "NER, RE, EE, KG", generated: "2025-01-02" }));

    await withChromium(async (cdp, session) => {
      const evaluate = async (expression: string): Promise<unknown> => {
        const r = await cdp.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, session);
        if (r.exceptionDetails) throw new Error(`in the page: ${JSON.stringify(r.exceptionDetails)}`);
        return r.result.value;
      };
      const viewport = (width: number) =>
        cdp.send(
          "Emulation.setDeviceMetricsOverride",
          { width, height: 900, deviceScaleFactor: 1, mobile: false },
          session,
        );
      await cdp.send("Page.enable", {}, session);
      await viewport(1280);
      const loaded = cdp.next("Page.loadEventFired");
      await cdp.send("Page.navigate", { url: new URL(`file://${page}`).href }, session);
      await loaded;

      // deno-lint-ignore no-explicit-any
      const dom = await evaluate(INSPECT) as any;
      equal(dom.resources, 0, "the page loads nothing");
      deepEqual(dom.counts, { documents: 3, extractions: 16, highlighted: 26, ungrounded: 1 });
      equal(dom.docs.length, DOCS.length);
      const perLabel: Record<string, number> = {};
      for (const [i, d] of dom.docs.entries()) {
        const doc = DOCS[i];
        equal(d.id, doc.id);
        equal(d.text, doc.text, `the text content of ${doc.id} is its text`);
        equal(d.whiteSpace, "pre-wrap");
        equal(d.items, doc.extractions.length);
        for (const m of d.marks) {
          perLabel[m.label] = (perLabel[m.label] ?? 0) + 1;
          equal(m.at, m.start, `${doc.id}: mark ${m.label} is at its data-start`);
          equal(m.text, doc.text.slice(m.start, m.end), `${doc.id}: mark ${m.label} holds its piece of the text`);
          ok(m.width > 0 && m.height > 0, `${doc.id}: mark ${m.label} at ${m.start} is visible`);
          equal(m.background, dom.legend[m.label], `${doc.id}: mark ${m.label} has its legend colour`);
        }
        for (const s of spansOfDoc(doc)) {
          const pieces = d.marks.filter((m: { span: number }) => m.span === s.k);
          equal(pieces.map((m: { text: string }) => m.text).join(""), doc.text.slice(s.start, s.end));
        }
      }
      deepEqual(perLabel, MARKS_PER_LABEL);
      deepEqual(dom.docs.map((d: { flagged: number }) => d.flagged), [0, 1, 0]);
      deepEqual(dom.docs[1].ungrounded, ["entityPER Alan Turing⚠ not found in the text"]);
      equal(new Set(Object.values(dom.legend)).size, Object.keys(MARKS_PER_LABEL).length, "a colour per label");

      equal(await evaluate(STACKED), false, "two columns at 1280 px");
      // The page's script: hovering a string in the list outlines both pieces of its split span.
      const hover = `(() => {
        const doc = document.querySelector('section.doc[data-id="en-2"]');
        doc.querySelector('.extractions [data-span="7"]').dispatchEvent(new MouseEvent("mouseenter"));
        return [...doc.querySelectorAll("mark.hl")].map((m) => m.textContent);
      })()`;
      deepEqual(await evaluate(hover), ["Babbage", " in London"]);
      const { cssContentSize } = await cdp.send("Page.getLayoutMetrics", {}, session);
      const shot = await cdp.send("Page.captureScreenshot", {
        format: "png",
        captureBeyondViewport: true,
        clip: { x: 0, y: 0, width: 1280, height: Math.ceil(cssContentSize.height), scale: 1 },
      }, session);
      await Deno.writeFile(png, Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0)));

      await viewport(600);
      equal(await evaluate(STACKED), true, "one column at 600 px");
    });

    const bytes = await Deno.readFile(png);
    deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG");
    equal(new DataView(bytes.buffer, bytes.byteOffset).getUint32(16), 1280, "1280 px wide");
    ok(bytes.length > 10_000, `${bytes.length} bytes`);
    const keep = Deno.env.get("IEPILE_REPORT_SCREENSHOT");
    if (keep) await Deno.copyFile(png, keep);
  },
});
