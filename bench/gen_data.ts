/**
 * Deterministic synthetic IEPile input for the `convert` and `eval` benches, in the shape of
 * IEPile's own data: Chinese or English texts of a few dozen to a few hundred characters, NER
 * records over eight entity types, RE records over ten relations, EE records over five event
 * types with their argument roles (EET and EEA read the EE records), each with its schema file.
 * The same arguments always write the same bytes.
 *
 * @module
 */

import { pyDumps, type PyJson } from "../io/py_json.ts";

/** The generated languages. */
export type BenchLanguage = "zh" | "en";

/** The record shapes generated: NER (entities), RE (relations), EE (events, also read as EET and EEA). */
export type BenchShape = "NER" | "RE" | "EE";

/** Types, relations and event roles of one language. */
interface Vocabulary {
  entityTypes: string[];
  relations: string[];
  events: Array<[string, string[]]>;
  /** A random word (zh: one character). */
  word(next: () => number): string;
  /** A random name of the language (zh: 2–5 characters; en: 1–3 capitalised words). */
  name(next: () => number): string;
  /** Joins words into text (zh: nothing; en: a space). */
  sep: string;
  /** Ends a clause, a sentence. */
  comma: string;
  stop: string;
}

const HAN =
  "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严";

const EN_WORDS = (
  "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they " +
  "you were her she there been one all we their has would when if so no will more can who said about up out them " +
  "into some time only new could two other than then first also after over most where years through such well " +
  "between during under against city river company council report market team season album film league station " +
  "school party government village family province region species county church building district program"
).split(" ");

const EN_SYLLABLES = "al an ar bel ber cor dan del el en fer gar han hel in is jor kar lan lin mar mel nor or " +
  "pal per ran ril sal sen tor val ven wil yar zen";

const SYLLABLES = EN_SYLLABLES.split(" ");

const VOCABULARY: Record<BenchLanguage, Vocabulary> = {
  zh: {
    entityTypes: ["人物", "地理位置", "组织机构", "时间", "作品", "产品", "事件", "职位"],
    relations: ["创始人", "所在城市", "配偶", "出生地", "毕业院校", "作者", "主演", "总部地点", "国籍", "父亲"],
    events: [
      ["袭击", ["袭击者", "袭击对象", "地点", "时间"]],
      ["交通事故", ["肇事方", "受害者", "地点", "伤亡人数"]],
      ["选举", ["当选者", "职位", "地点", "时间"]],
      ["收购", ["收购方", "被收购方", "金额", "时间"]],
      ["地震", ["震源深度", "震级", "地点", "时间"]],
    ],
    word: (next) => HAN[Math.floor(next() * HAN.length)],
    name: (next) => {
      let s = "";
      for (let i = 2 + Math.floor(next() * 4); i > 0; i--) s += HAN[Math.floor(next() * HAN.length)];
      return s;
    },
    sep: "",
    comma: "，",
    stop: "。",
  },
  en: {
    entityTypes: ["person", "location", "organization", "date", "work", "product", "event", "position"],
    relations: [
      "founded by",
      "located in",
      "spouse",
      "place of birth",
      "educated at",
      "author",
      "cast member",
      "headquarters",
      "country of citizenship",
      "father",
    ],
    events: [
      ["attack", ["attacker", "target", "place", "time"]],
      ["accident", ["vehicle", "victim", "place", "casualties"]],
      ["elect", ["person", "position", "place", "time"]],
      ["acquisition", ["buyer", "acquired", "price", "time"]],
      ["earthquake", ["depth", "magnitude", "place", "time"]],
    ],
    word: (next) => EN_WORDS[Math.floor(next() * EN_WORDS.length)],
    name: (next) => {
      const words = [];
      for (let w = 1 + Math.floor(next() * 3); w > 0; w--) {
        let s = "";
        for (let i = 2 + Math.floor(next() * 2); i > 0; i--) s += SYLLABLES[Math.floor(next() * SYLLABLES.length)];
        words.push(s[0].toUpperCase() + s.slice(1));
      }
      return words.join(" ");
    },
    sep: " ",
    comma: ",",
    stop: ".",
  },
};

/**
 * A small seeded generator (xorshift32) so every run writes the same file.
 *
 * @param seed any integer
 * @returns numbers in [0, 1)
 */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/**
 * The schema file (three JSON lines) for a shape and language. EET and EEA take the EE one.
 *
 * @param shape NER, RE or EE
 * @param language zh or en
 * @returns the file's text
 *
 * @example
 * ```ts
 * import { benchSchema } from "./gen_data.ts";
 * if (JSON.parse(benchSchema("NER", "zh").split("\n")[0]).length !== 8) throw new Error();
 * ```
 */
export function benchSchema(shape: BenchShape, language: BenchLanguage): string {
  const v = VOCABULARY[language];
  const lines = shape === "NER"
    ? [v.entityTypes, [], {}]
    : shape === "RE"
    ? [[], v.relations, {}]
    : [v.events.map(([t]) => t), [...new Set(v.events.flatMap(([, r]) => r))], Object.fromEntries(v.events)];
  return lines.map((l) => pyDumps(l as PyJson)).join("\n") + "\n";
}

/**
 * Write `n` records of a shape and language as JSON Lines.
 *
 * Texts are 40–300 characters (zh) or 10–70 words (en), made of clauses around the annotated
 * names; NER records hold 0–9 entities, RE 0–5 relations, EE 0–3 events of 1–4 arguments (mostly one
 * per role).
 *
 * @param path output file
 * @param shape NER, RE or EE
 * @param language zh or en
 * @param n number of records
 * @returns bytes written
 *
 * @example
 * ```ts
 * import { writeBenchRecords } from "./gen_data.ts";
 * const path = await Deno.makeTempFile();
 * await writeBenchRecords(path, "EE", "en", 3);
 * const lines = (await Deno.readTextFile(path)).trim().split("\n");
 * if (lines.length !== 3 || !("event" in JSON.parse(lines[0]))) throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function writeBenchRecords(
  path: string,
  shape: BenchShape,
  language: BenchLanguage,
  n: number,
): Promise<number> {
  const next = rng(12345 + n);
  const v = VOCABULARY[language];
  const pickOf = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
  /** Filler text of about `len` characters (zh) or `len / 4` words (en). */
  const filler = (len: number): string => {
    const words: string[] = [];
    const count = language === "zh" ? len : Math.max(1, Math.round(len / 4));
    for (let i = 0; i < count; i++) {
      words.push(v.word(next));
      if (i > 0 && next() < (language === "zh" ? 0.06 : 0.08)) words[words.length - 1] += v.comma;
    }
    return words.join(v.sep);
  };
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  let bytes = 0;
  let chunk: string[] = [];
  for (let i = 0; i < n; i++) {
    const target = language === "zh" ? 40 + Math.floor(next() * 260) : 40 + Math.floor(next() * 240);
    const names: string[] = [];
    const record: Record<string, unknown> = { text: "" };
    if (shape === "NER") {
      const entities = [];
      for (let k = Math.floor(next() * 10); k > 0; k--) {
        const name = v.name(next);
        names.push(name);
        entities.push({ entity: name, entity_type: pickOf(v.entityTypes) });
      }
      record.entity = entities;
    } else if (shape === "RE") {
      const relations = [];
      for (let k = Math.floor(next() * 6); k > 0; k--) {
        const head = v.name(next), tail = v.name(next);
        names.push(head, tail);
        relations.push({ head, relation: pickOf(v.relations), tail });
      }
      record.relation = relations;
    } else {
      const events = [];
      for (let k = Math.floor(next() * 4); k > 0; k--) {
        const [type, roles] = pickOf(v.events);
        const trigger = language === "zh" ? v.word(next) + v.word(next) : v.word(next);
        names.push(trigger);
        // 1–4 arguments, mostly in distinct roles; one in ten repeats a role (several values).
        const args = [];
        const order = roles.slice();
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(next() * (i + 1));
          [order[i], order[j]] = [order[j], order[i]];
        }
        for (let a = 0, count = 1 + Math.floor(next() * 4); a < count; a++) {
          const argument = v.name(next);
          names.push(argument);
          args.push({ argument, role: next() < 0.1 ? order[0] : order[a % order.length] });
        }
        events.push({ event_trigger: trigger, event_type: type, arguments: args });
      }
      record.event = events;
    }
    const gap = Math.max(5, Math.floor(target / (names.length + 1)));
    let text = "";
    for (const name of names) text += filler(gap) + v.sep + name + v.sep;
    record.text = text + filler(gap) + v.stop;
    chunk.push(pyDumps(record as PyJson));
    if (chunk.length === 5000 || i === n - 1) {
      const data = enc.encode(chunk.join("\n") + "\n");
      bytes += data.length;
      for (let off = 0; off < data.length;) off += await file.write(data.subarray(off));
      chunk = [];
    }
  }
  file.close();
  return bytes;
}
