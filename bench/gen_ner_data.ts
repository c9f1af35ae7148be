/**
 * Deterministic synthetic NER records for `templates_bench.ts`: short Chinese texts with 0–4
 * entities over three types, like IEPile's NER sample, at any size. (The `convert` and `eval`
 * benches use the richer data of `gen_data.ts`.)
 *
 * @module
 */

/** The NER schema the generated records use (three types, as IEPile's NER sample). */
import { rng } from "./gen_data.ts";

export const BENCH_NER_SCHEMA = '["人物", "地理位置", "组织机构"]\n[]\n{}\n';

const TYPES = ["人物", "地理位置", "组织机构"];
const HAN =
  "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严";

/**
 * Write `n` NER records as JSON Lines.
 *
 * @param path output file
 * @param n number of records
 * @returns bytes written
 */
export async function writeNerRecords(path: string, n: number): Promise<number> {
  const next = rng(12345);
  const pick = (s: string, len: number) => {
    let out = "";
    for (let i = 0; i < len; i++) out += s[Math.floor(next() * s.length)];
    return out;
  };
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  let bytes = 0;
  let chunk: string[] = [];
  for (let i = 0; i < n; i++) {
    const entities = [];
    let text = "";
    const k = Math.floor(next() * 5);
    for (let j = 0; j < k; j++) {
      const name = pick(HAN, 2 + Math.floor(next() * 3));
      entities.push({ entity: name, entity_type: TYPES[Math.floor(next() * TYPES.length)] });
      text += pick(HAN, 5 + Math.floor(next() * 10)) + name;
    }
    text += pick(HAN, 10 + Math.floor(next() * 30)) + "。";
    chunk.push(JSON.stringify({ text, entity: entities }).replaceAll('":', '": ').replaceAll('","', '", "'));
    if (chunk.length === 10000 || i === n - 1) {
      const data = enc.encode(chunk.join("\n") + "\n");
      bytes += data.length;
      await file.write(data);
      chunk = [];
    }
  }
  file.close();
  return bytes;
}
