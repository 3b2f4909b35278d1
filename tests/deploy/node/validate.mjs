// Offline schema check of rendered Kubernetes manifests (tests/deploy/kubernetes.sh).
//
//   node validate.mjs FILE...          every object of each YAML stream against its
//                                      kubernetes-models (or prometheus-operator) model
//   node validate.mjs --same A B       A and B hold the same objects, in any order
//
// Each object is checked twice by its model's validate(): as kubernetes-models does
// (types, formats, enums, required fields), and again on a copy that records which
// fields the validator looked up. The API server drops fields it does not know (a
// misspelt `readinesProbe` would be lost without a word from the models), so a field
// that the validator never asked for, in an object whose schema it did walk, is
// reported as unknown. Objects it never looked into (free-form fields such as
// ConfigMap data values or CRD fields without a schema) are not judged.
// Exits 1 when anything is wrong, naming the object and the field path.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";

const MODEL_PACKAGES = ["kubernetes-models", "@kubernetes-models/prometheus-operator"];

function load(file) {
    return yaml.loadAll(readFileSync(file, "utf8")).filter((doc) => doc != null);
}

function describe(doc) {
    return `${doc.kind}/${doc.metadata?.name ?? "?"} (${doc.apiVersion})`;
}

async function modelFor(apiVersion, kind) {
    // "v1" (the core group) and "apps/v1" alike: PACKAGE/GROUP/VERSION/KIND.
    for (const pkg of MODEL_PACKAGES) {
        try {
            const module = await import(`${pkg}/${apiVersion}/${kind}`);
            if (module[kind]) return module[kind];
        } catch (e) {
            if (e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED" && e.code !== "ERR_MODULE_NOT_FOUND") throw e;
        }
    }
    return null;
}

// A deep view of `value` that records, per object, which keys were read.
function recorder(value, reads) {
    if (value === null || typeof value !== "object") return value;
    const seen = new Set();
    reads.set(value, seen);
    const children = new Map();
    return new Proxy(value, {
        get(target, key, receiver) {
            if (typeof key === "string") seen.add(key);
            const child = Reflect.get(target, key, receiver);
            if (child === null || typeof child !== "object") return child;
            if (!children.has(key)) children.set(key, recorder(child, reads));
            return children.get(key);
        },
    });
}

function unknownFields(value, reads, path, out) {
    if (value === null || typeof value !== "object") return out;
    const seen = reads.get(value);
    if (Array.isArray(value)) {
        value.forEach((item, i) => unknownFields(item, reads, `${path}[${i}]`, out));
        return out;
    }
    // Never looked into: free-form, not ours to judge.
    if (!seen || seen.size === 0) return out;
    for (const key of Object.keys(value)) {
        const where = path ? `${path}.${key}` : key;
        if (!seen.has(key)) out.push(where);
        else unknownFields(value[key], reads, where, out);
    }
    return out;
}

function errorText(e) {
    return String(e?.message ?? e).split("\n").map((l) => `    ${l}`).join("\n");
}

async function validateFiles(files) {
    let bad = 0;
    let count = 0;
    for (const file of files) {
        for (const doc of load(file)) {
            count++;
            const name = describe(doc);
            const Model = doc.apiVersion && doc.kind ? await modelFor(doc.apiVersion, doc.kind) : null;
            if (!Model) {
                console.log(`INVALID ${name}: no model for ${doc.apiVersion} ${doc.kind}`);
                bad++;
                continue;
            }
            const problems = [];
            try {
                new Model(doc).validate();
            } catch (e) {
                problems.push(errorText(e));
            }
            const reads = new Map();
            try {
                Model.prototype.validate.call(recorder(structuredClone(doc), reads));
            } catch {
                // Reported above; the reads still count.
            }
            const copy = [...reads.keys()][0];
            for (const field of unknownFields(copy, reads, "", [])) {
                problems.push(`    unknown field ${field}`);
            }
            if (problems.length) {
                console.log(`INVALID ${name}:\n${problems.join("\n")}`);
                bad++;
            } else {
                console.log(`valid ${name}`);
            }
        }
    }
    if (count === 0) {
        console.log("INVALID: no objects");
        return 1;
    }
    console.log(`${count - bad} valid, ${bad} invalid`);
    return bad ? 1 : 0;
}

// Same objects, whatever the order kustomize wrote them in.
function same(a, b) {
    const canon = (v) =>
        Array.isArray(v)
            ? v.map(canon)
            : v && typeof v === "object"
              ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]))
              : v;
    const set = (file) => load(file).map((d) => JSON.stringify(canon(d))).sort();
    const [x, y] = [set(a), set(b)];
    const onlyA = x.filter((d) => !y.includes(d));
    const onlyB = y.filter((d) => !x.includes(d));
    if (onlyA.length || onlyB.length) {
        for (const d of onlyA) console.log(`only in ${a}: ${d}`);
        for (const d of onlyB) console.log(`only in ${b}: ${d}`);
        return 1;
    }
    console.log(`same ${x.length} objects`);
    return 0;
}

const args = process.argv.slice(2);
if (args[0] === "--same" && args.length === 3) {
    process.exit(same(args[1], args[2]));
} else if (args.length && !args[0].startsWith("-")) {
    process.exit(await validateFiles(args));
} else {
    console.error("usage: node validate.mjs FILE... | --same A B");
    process.exit(2);
}
