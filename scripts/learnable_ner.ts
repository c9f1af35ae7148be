/**
 * A small, learnable extraction task in IEPile's instruction format, for showing and testing that
 * `train` teaches a tiny random model to extract: sentences "<person> visited <city>." (en) and
 * "<人物>去了<城市>。" (zh), every (person, city) pair once per language, the pairs split so that
 * no test sentence was seen in training (each name and city was). Train records carry `output`
 * (as `convert --split train` writes them), test records `id` and `label` (as `--split test`).
 *
 * @module
 */

import { Rng } from "../infer/mod.ts";
import { pyDumps } from "../io/py_json.ts";

const EN_PEOPLE = [
  "Alice",
  "Bob",
  "Carol",
  "David",
  "Emma",
  "Frank",
  "Grace",
  "Henry",
  "Ivan",
  "Julia",
  "Kevin",
  "Laura",
];
const EN_CITIES = [
  "Paris",
  "Rome",
  "Tokyo",
  "Cairo",
  "Lima",
  "Oslo",
  "Delhi",
  "Sydney",
  "Berlin",
  "Madrid",
  "Vienna",
  "Dublin",
];
const ZH_PEOPLE = ["张三", "李四", "王五", "赵六", "小明", "小红", "老王", "阿强", "刘备", "关羽", "孙权", "曹操"];
const ZH_CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "天津", "重庆", "苏州"];

/** The records of the task, as JSON Lines text. */
export interface LearnableNer {
  /** Train records (`task`, `source`, `instruction`, `output`). */
  readonly train: string;
  /** Test records (`id`, `task`, `source`, `instruction`, `label`). */
  readonly test: string;
}

/**
 * The task's records: 12 people × 12 cities per language, the last `testPairs` pairs of a shuffle
 * held out.
 *
 * @param testPairs pairs held out for testing (default 32)
 * @param seed the seed of the split
 * @returns train and test records
 *
 * @example
 * ```ts
 * import { learnableNer } from "./learnable_ner.ts";
 * const { train, test } = learnableNer();
 * if (train.trim().split("\n").length !== 2 * 112 || test.trim().split("\n").length !== 2 * 32) throw new Error();
 * ```
 */
export function learnableNer(testPairs = 32, seed = 5): LearnableNer {
  const rng = new Rng(seed);
  const pairs = EN_PEOPLE.flatMap((_, i) => EN_CITIES.map((_, j) => [i, j]));
  for (let i = pairs.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
  }
  const train: string[] = [], test: string[] = [];
  pairs.forEach(([i, j], k) => {
    for (const zh of [false, true]) {
      const [person, city] = zh ? [ZH_PEOPLE[i], ZH_CITIES[j]] : [EN_PEOPLE[i], EN_CITIES[j]];
      const [pt, lt] = zh ? ["人物", "地理位置"] : ["person", "location"];
      const text = zh ? `${person}去了${city}。` : `${person} visited ${city}.`;
      const source = zh ? "zh" : "en";
      const instruction = pyDumps({
        instruction: zh ? "抽取实体。" : "Extract entities.",
        schema: [pt, lt],
        input: text,
      });
      if (k < pairs.length - testPairs) {
        const output = pyDumps({ [pt]: [person], [lt]: [city] });
        train.push(pyDumps({ task: "NER", source, instruction, output }));
      } else {
        const label = pyDumps([{ entity: person, entity_type: pt }, { entity: city, entity_type: lt }]);
        test.push(pyDumps({ id: `${source}-${k}`, task: "NER", source, instruction, label }));
      }
    }
  });
  return { train: train.join("\n") + "\n", test: test.join("\n") + "\n" };
}
