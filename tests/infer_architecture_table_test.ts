/**
 * The architecture table is self-consistent: every weight a family's models can have is named
 * in its checkpoints and in the GGUF it is exported as, names are unique and well formed, and
 * a family's own config (as the random test models write it) is recognised as that family.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import {
  type ArchitectureRow,
  ARCHITECTURES,
  GGUF_ARCHITECTURES,
  GLOBAL_ROLES,
  type GlobalRole,
  LAYER_ROLES,
  type LayerRole,
} from "../infer/model/architecture_table.ts";
import { roleTensors } from "../infer/model/architectures.ts";
import { architectureOf, specFromConfig } from "../infer/model/mod.ts";
import { randomModelConfig } from "../infer/testing/mod.ts";

const ROWS: readonly ArchitectureRow[] = Object.values(ARCHITECTURES);

/** The layer roles a family's models may have, given its differences. */
function layerRolesOf(row: ArchitectureRow): LayerRole[] {
  const roles: LayerRole[] = ["attnNorm", ...(row.fusedQkv ? ["wqkv" as const] : ["wq", "wk", "wv"] as const)];
  // A fused projection has no separate biases to name (Baichuan stores none).
  if (!row.fusedQkv) roles.push("bq", "bk", "bv");
  roles.push("wo");
  if (row.oBias !== "never") roles.push("bo");
  roles.push("ffnNorm", "w1", "w3", "w2");
  return roles;
}

/** The canonical weights a checkpoint role becomes (a fused QKV is split). */
const loadedAs = (role: LayerRole): LayerRole[] => role === "wqkv" ? ["wq", "wk", "wv"] : [role];

Deno.test("architecture table: names, roles and differences agree", async (t) => {
  await t.step("each row is filed under its name; model types and class names belong to one row", () => {
    for (const [key, row] of Object.entries(ARCHITECTURES)) equal(row.name, key);
    const types = ROWS.flatMap((r) => r.modelTypes);
    const classes = ROWS.flatMap((r) => r.classNames);
    equal(new Set(types).size, types.length);
    equal(new Set(classes).size, classes.length);
    ok(ROWS.every((r) => r.modelTypes.length > 0 && r.classNames.length > 0));
  });

  await t.step("every weight a family can have has a checkpoint name, and no other role is named", () => {
    for (const row of ROWS) {
      const wanted = layerRolesOf(row);
      for (const role of wanted) ok(row.hf.layer[role], `${row.name}: no checkpoint name for ${role}`);
      for (const role of Object.keys(row.hf.layer) as LayerRole[]) {
        ok(wanted.includes(role), `${row.name}: ${role} named but never present`);
      }
      for (const role of Object.keys(GLOBAL_ROLES) as GlobalRole[]) {
        ok(row.hf.global[role], `${row.name}: no checkpoint name for ${role}`);
      }
      equal(row.qkvBias === "always" && row.fusedQkv, false, `${row.name}: fused QKV with biases it cannot name`);
    }
  });

  await t.step("every weight loaded has a GGUF name in each llama.cpp architecture it is exported as", () => {
    for (const row of ROWS) {
      const targets = [row.gguf.architecture, ...(row.gguf.depths ? [row.gguf.depths.otherwise] : [])];
      for (const target of targets) {
        const gguf = GGUF_ARCHITECTURES[target];
        ok(gguf, `${row.name}: unknown llama.cpp architecture ${target}`);
        equal(gguf.name, target);
        equal(gguf.tensors.layer.wqkv, undefined, "GGUF holds q, k and v apart");
        for (const role of layerRolesOf(row).flatMap(loadedAs)) {
          ok(gguf.tensors.layer[role], `${row.name} as ${target}: no GGUF name for ${role}`);
        }
        for (const role of Object.keys(GLOBAL_ROLES) as GlobalRole[]) ok(gguf.tensors.global[role]);
      }
    }
  });

  await t.step("names are unique; layer names (only) carry the layer number", () => {
    const tables = [
      ...ROWS.map((r) => [r.name, r.hf] as const),
      ...Object.values(GGUF_ARCHITECTURES).map((g) => [`gguf ${g.name}`, g.tensors] as const),
    ];
    for (const [what, names] of tables) {
      const layer = Object.values(names.layer).filter((n) => n !== undefined);
      const global = Object.values(names.global).filter((n) => n !== undefined);
      equal(new Set([...layer, ...global]).size, layer.length + global.length, `${what}: a name used twice`);
      ok(layer.every((n) => n.split("{n}").length === 2), `${what}: a layer name without one {n}`);
      ok(global.every((n) => !n.includes("{n}")), `${what}: a global name with {n}`);
    }
  });

  await t.step("role shapes: a fused QKV is q, k and v stacked", () => {
    const spec = specFromConfig(
      randomModelConfig({
        architecture: "llama",
        vocabSize: 10,
        hidden: 8,
        intermediate: 16,
        layers: 1,
        heads: 4,
        kvHeads: 2,
      }),
    );
    const rows = (r: LayerRole) => LAYER_ROLES[r].shape(spec)[0];
    equal(rows("wqkv"), rows("wq") + rows("wk") + rows("wv"));
    deepEqual(LAYER_ROLES.wqkv.shape(spec), [16, 8]);
  });

  await t.step("optional config fields name keys the row has; ALiBi and NormHead can be written", () => {
    for (const row of ROWS) {
      if (row.optionalConfig.includes("kvHeads")) ok(row.config.kvHeads, `${row.name}: kvHeads without a key`);
      equal(row.optionalConfig.includes("normHead"), row.normHead !== undefined, row.name);
      if (row.alibiWithout) ok(row.optionalConfig.includes(row.alibiWithout), row.name);
      equal(new Set(row.optionalConfig).size, row.optionalConfig.length, row.name);
    }
  });

  await t.step("a family's own config is recognised as that family, its tensors named by its row", () => {
    for (const row of ROWS) {
      for (const model_type of row.modelTypes) equal(architectureOf({ model_type }), row.name);
      for (const c of row.classNames) equal(architectureOf({ architectures: [c] }), row.name);
      const spec = specFromConfig(
        randomModelConfig({ architecture: row.name, vocabSize: 10, hidden: 8, intermediate: 16, layers: 2, heads: 2 }),
      );
      equal(spec.architecture, row.name);
      const names = new Set([
        ...Object.values(row.hf.global),
        ...Object.values(row.hf.layer).flatMap((n) => [0, 1].map((l) => n!.replace("{n}", String(l)))),
      ]);
      for (const t of roleTensors(spec)) ok(names.has(t.name), `${row.name}: ${t.name} not from the row`);
    }
  });
});
