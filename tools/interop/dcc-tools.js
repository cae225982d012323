#!/usr/bin/env node
// Drives DCC's own tooling for opendcc's interop tests and benchmarks, through the npm
// packages' public APIs: @smartdcc/duis-sign-wrap (the DCC Boxed Java signing tool) and
// @smartdcc/duis-parser. Runs beside opendcc; not part of the Apache-2.0 package.
//
//   node dcc-tools.js sign|validate OUTDIR FILE...   one JSON line per file on stdout
//   node dcc-tools.js bench FILE SECONDS              ops/s for parse, validate and sign
//   node dcc-tools.js parse FILE...                   @smartdcc/duis-parser's reading of each
//                                                     file, one JSON line each
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const { signDuis, validateDuis } = require('@smartdcc/duis-sign-wrap')
const { parseDuis, isSimplifiedDuisOutput } = require('@smartdcc/duis-parser')

const CONCURRENCY = 2

async function batch(mode, outdir, files) {
  const queue = files.slice()
  async function worker() {
    while (queue.length) {
      const file = queue.shift()
      const xml = fs.readFileSync(file)
      try {
        const out = mode === 'sign'
          ? await signDuis({ xml, preserveCounter: true })
          : await validateDuis({ xml })
        fs.writeFileSync(path.join(outdir, path.basename(file)), out)
        process.stdout.write(JSON.stringify({ file, ok: true }) + '\n')
      } catch (e) {
        process.stdout.write(JSON.stringify({ file, ok: false, error: String(e.message) }) + '\n')
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
}

async function rate(seconds, op) {
  const end = Date.now() + seconds * 1000
  let n = 0
  const start = process.hrtime.bigint()
  do { await op(); n++ } while (Date.now() < end)
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9
  return n / elapsed
}

async function bench(file, seconds) {
  const signed = fs.readFileSync(file)
  const unsigned = await validateDuis({ xml: signed })
  const result = {
    parse: await rate(seconds, async () => parseDuis('simplified', unsigned)),
    verify: await rate(seconds, () => validateDuis({ xml: signed })),
    sign: await rate(seconds, () => signDuis({ xml: unsigned, preserveCounter: true })),
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

// What @smartdcc/duis-parser makes of each document (its simplified form), or why it cannot;
// ``modelled``: whether the result is one of the structures its types describe.
function parse(files) {
  for (const file of files) {
    try {
      const parsed = parseDuis('simplified', fs.readFileSync(file))
      const text = JSON.stringify(parsed, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
      const modelled = isSimplifiedDuisOutput(parsed)
      process.stdout.write(JSON.stringify({ file, ok: true, modelled, parsed: JSON.parse(text) }) + '\n')
    } catch (e) {
      process.stdout.write(JSON.stringify({ file, ok: false, error: String(e.message) }) + '\n')
    }
  }
}

async function main() {
  const [mode, ...rest] = process.argv.slice(2)
  if (mode === 'sign' || mode === 'validate') return batch(mode, rest[0], rest.slice(1))
  if (mode === 'bench') return bench(rest[0], Number(rest[1] || 3))
  if (mode === 'parse') return parse(rest)
  process.stderr.write('usage: dcc-tools.js sign|validate OUTDIR FILE... | bench FILE SECONDS | parse FILE...\n')
  process.exit(2)
}

main().catch((e) => { process.stderr.write(String(e.stack || e) + '\n'); process.exit(1) })
