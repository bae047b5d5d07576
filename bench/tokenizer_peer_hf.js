// tokenizer_peer_hf.js — peer for bench/tokenizer_bench.sh: HuggingFace `tokenizers` (Rust, through its Node binding,
// npm package `tokenizers`) loaded with the SAME merges as an ember tokenizer file, encoding the same text; checks
// that the ids are identical to ember's .npy and reports tokens/s.
//
// usage: node bench/tokenizer_peer_hf.js TOK.txt TEXT EMBER.npy [CHUNKS=2000]   (NODE_PATH must reach `tokenizers`)
// Two timings: one encode() of the whole text (HF tracks offsets and alignments per byte, which makes one 10 MB
// sequence slow), and encodeBatch() of the text cut into CHUNKS pieces at piece boundaries (~5 KB each for 10 MB,
// paragraph-sized: HF's fastest case here; 64 chunks measured 3x slower). Threads: RAYON_NUM_THREADS.
//
// How the same tokenizer is expressed in HF terms (tokenizer.json written to TOK.txt.hf.json):
//   model         BPE, vocab = GPT-2's byte-to-unicode alphabet for ids 0..255, then one string per merge
//                 (the two tokens' strings joined) with id 256+i; merges in ember's order (rank = order)
//   pre-tokenizer Split on a regex that reproduces data/bpe.h's pieces on characters (letter = A-Za-z and every
//                 non-ASCII character, digit, space = " \t\n\r\v\f", other), then ByteLevel without its own regex
//   no normaliser, no added tokens: HF would match "[MASK]" in the text as the special token, ember never does.
// Where they can still differ: ember cuts pieces at 128 bytes (maybe inside a UTF-8 character; a regex on
// characters cannot), and HF's vocab is a map from strings, so two merges that spell the same bytes share one id.
// Both are counted and reported; the ids are compared over the whole text.
"use strict";
const fs = require("fs");
const { Tokenizer } = require("tokenizers");

function loadMerges(path) {
  const lines = fs.readFileSync(path, "latin1").split("\n");
  if (lines[0].replace(/\r$/, "") !== "ember-tokenizer 1") throw new Error(`${path}:1: expected 'ember-tokenizer 1'`);
  let m = null;
  const merges = [];
  for (const raw of lines.slice(1)) {
    const line = raw.replace(/\r$/, "");
    if (!line || line.startsWith("#")) continue;
    if (m === null) {
      if (line.startsWith("merges ")) m = Number(line.split(" ")[1]);
      continue;
    }
    const [a, b] = line.split(" ", 2).map(Number);
    merges.push([a, b]);
  }
  if (m === null || merges.length !== m) throw new Error(`${path}: expected ${m} merges, got ${merges.length}`);
  return merges;
}

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.
function byteAlphabet() {
  const bs = [];
  for (let c = 0x21; c <= 0x7e; c++) bs.push(c);
  for (let c = 0xa1; c <= 0xac; c++) bs.push(c);
  for (let c = 0xae; c <= 0xff; c++) bs.push(c);
  const map = new Array(256);
  for (const b of bs) map[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCodePoint(256 + n++);
  return map;
}

const L = "A-Za-z\\x{80}-\\x{10ffff}", D = "0-9", S = " \\t\\n\\r\\x0b\\x0c";
// data/bpe.h: " " + a run of one non-space class | a run of one non-space class | a run of spaces minus a final
// " " that a non-space follows | a run of spaces.
const PIECES = ` ?[${L}]+| ?[${D}]+| ?[^${S}${L}${D}]+|[${S}]+(?= [^${S}])|[${S}]+`;

function buildTokenizer(merges, jsonPath) {
  const alpha = byteAlphabet();
  const str = alpha.slice();
  const vocab = {};
  for (let b = 0; b < 256; b++) vocab[alpha[b]] = b;
  let shared = 0;
  const hfMerges = merges.map(([a, b], i) => {
    const s = str[a] + str[b];
    str.push(s);
    if (s in vocab) shared++;
    else vocab[s] = 256 + i;
    return [str[a], str[b]];
  });
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
  const json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [{ type: "Split", pattern: { Regex: PIECES }, behavior: "Isolated", invert: false }, byteLevel],
    },
    post_processor: null,
    decoder: byteLevel,
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: hfMerges,
    },
  };
  fs.writeFileSync(jsonPath, JSON.stringify(json));
  return { tok: Tokenizer.fromFile(jsonPath), shared };
}

function loadNpyI32(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString("latin1", 0, 6) !== "\x93NUMPY") throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const off = (major === 1 ? 10 : 12) + hlen;
  if (!buf.toString("latin1", off - hlen, off).includes("'<i4'")) throw new Error(`${path}: expected '<i4'`);
  const out = new Int32Array((buf.length - off) / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readInt32LE(off + 4 * i);
  return out;
}

// Pieces longer than 128 bytes (ember cuts them; the regex cannot).
function longPieces(text) {
  const re = new RegExp(PIECES.replace(/\\x\{80\}-\\x\{10ffff\}/g, "\\u0080-\\u{10ffff}").replace(/\\x0b\\x0c/g, "\\v\\f"), "gu");
  let n = 0;
  for (const m of text.matchAll(re)) if (Buffer.byteLength(m[0]) > 128) n++;
  return n;
}

// Chunks for encodeBatch, cut where ember's parallel encoder cuts: at a space character after a non-space one
// (a piece boundary whatever came before), so the chunks' ids joined equal the whole text's.
function chunks(text, k) {
  const isSpace = (c) => c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\v" || c === "\f";
  const out = [];
  let from = 0;
  for (let j = 1; j < k; j++) {
    let p = Math.max(from + 1, Math.floor((text.length * j) / k));
    while (p < text.length && !(isSpace(text[p]) && !isSpace(text[p - 1]))) p++;
    if (p >= text.length) break;
    out.push(text.slice(from, p));
    from = p;
  }
  out.push(text.slice(from));
  return out;
}

async function main() {
  const [tokPath, textPath, npyPath, nchunks = "2000"] = process.argv.slice(2);
  const merges = loadMerges(tokPath);
  const { tok, shared } = buildTokenizer(merges, `${tokPath}.hf.json`);
  const bytes = fs.readFileSync(textPath);
  const text = bytes.toString("utf8");
  const validUtf8 = Buffer.from(text, "utf8").equals(bytes);
  const threads = process.env.RAYON_NUM_THREADS || "(rayon default)";

  let t0 = process.hrtime.bigint();
  const enc = await tok.encode(text);
  const tEnc = Number(process.hrtime.bigint() - t0) / 1e9;
  t0 = process.hrtime.bigint();
  const ids = enc.getIds();
  const tIds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`hf tokenizers, one encode() call: ${bytes.length} bytes -> ${ids.length} tokens in ${tEnc.toFixed(3)} s ` +
    `encoding (${(ids.length / tEnc).toFixed(0)} tokens/s); getIds() ${tIds.toFixed(3)} s more`);

  const parts = chunks(text, Number(nchunks));
  t0 = process.hrtime.bigint();
  const encs = await tok.encodeBatch(parts);
  const tBatch = Number(process.hrtime.bigint() - t0) / 1e9;
  const batchIds = [].concat(...encs.map((e) => e.getIds()));
  console.log(`hf tokenizers, encodeBatch() of ${parts.length} chunks, RAYON_NUM_THREADS=${threads}: ` +
    `${batchIds.length} tokens in ${tBatch.toFixed(3)} s encoding (${(batchIds.length / tBatch).toFixed(0)} tokens/s)`);

  // HF's standard byte-level set-up (GPT-2's regex inside ByteLevel) with the same merges: the usual way HF is
  // configured, for its speed; its pieces differ from ember's, so its ids are not compared.
  const std = JSON.parse(fs.readFileSync(`${tokPath}.hf.json`, "utf8"));
  std.pre_tokenizer = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true };
  fs.writeFileSync(`${tokPath}.hf-gpt2.json`, JSON.stringify(std));
  const tokStd = Tokenizer.fromFile(`${tokPath}.hf-gpt2.json`);
  t0 = process.hrtime.bigint();
  const encsStd = await tokStd.encodeBatch(parts);
  const tStd = Number(process.hrtime.bigint() - t0) / 1e9;
  const nStd = encsStd.reduce((a, e) => a + e.getLength(), 0);
  console.log(`hf tokenizers, GPT-2 ByteLevel pre-tokenizer (its usual set-up; other pieces, ids not compared), ` +
    `encodeBatch() of ${parts.length} chunks: ${nStd} tokens in ${tStd.toFixed(3)} s encoding ` +
    `(${(nStd / tStd).toFixed(0)} tokens/s)`);

  const ember = loadNpyI32(npyPath);
  let diff = 0, first = -1;
  const n = Math.min(ember.length, ids.length);
  for (let i = 0; i < n; i++)
    if (ember[i] !== ids[i] || ember[i] !== batchIds[i]) {
      diff++;
      if (first < 0) first = i;
    }
  const same = diff === 0 && ember.length === ids.length && batchIds.length === ids.length;
  console.log(`ids identical to ember's: ${same ? "yes" : "NO"} (ember ${ember.length} tokens, hf ${ids.length}, ` +
    `batch ${batchIds.length}; ${diff} positions differ${first >= 0 ? `, first at ${first}` : ""}); ` +
    `text valid UTF-8: ${validUtf8 ? "yes" : "no"}; merges spelling an earlier token: ${shared}; ` +
    `pieces over 128 bytes: ${longPieces(text)}`);
}

main().catch((e) => {
  console.error(`tokenizer_peer_hf: ${e.message}`);
  process.exit(1);
});
