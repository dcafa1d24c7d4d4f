/**
 * A process that writes to a store until it is killed, for the kill -9 tests.
 *   node --import tsx store-child.ts SPEC feedback: seeds 50 records, then 4 loops add feedback and
 *     print `ack ID SOURCE ANSWER` after each acknowledgement, while new records keep streaming in.
 *   node --import tsx store-child.ts SPEC records: streams records r0, r1, ... as fast as the writer
 *     takes them and prints `written N` (records committed so far, in order) after each batch.
 */
import { writeSync } from 'node:fs';
import { openStore } from '../../src/store/open-store.ts';
import { makeRecord } from './store-fixtures.ts';

const [spec, mode] = process.argv.slice(2);
const say = (line: string) => writeSync(1, `${line}\n`);
let written = 0;
const store = await openStore(spec, {
  queueSize: 20_000,
  batchSize: 500,
  onEvent: (e) => {
    if (e.type === 'written') {
      written += e.count;
      if (mode === 'records') say(`written ${written}`);
    }
    if (e.type === 'write_error') say(`error ${e.error.message}`);
  },
});

if (mode === 'feedback') {
  for (let i = 0; i < 50; i++) store.record(makeRecord(`k${i}`));
  await store.flush();
  say('ready');
  let j = 0;
  setInterval(() => {
    for (let k = 0; k < 100; k++) store.record(makeRecord(`bg${j++}`));
  }, 5);
  const loop = async (w: number) => {
    for (let i = 0; ; i++) {
      const id = `k${(i * 4 + w) % 50}`;
      const source = `w${w}-${i}`;
      const r = await store.addFeedback({ id, source, answer: String(i) });
      if (r.status !== 'stored') throw new Error(`feedback ${id} ${source}: ${JSON.stringify(r)}`);
      say(`ack ${id} ${source} ${i}`);
    }
  };
  await Promise.all([0, 1, 2, 3].map(loop));
} else if (mode === 'records') {
  say('ready');
  let i = 0;
  for (;;) {
    while (store.record(makeRecord(`r${i}`))) i++;
    await new Promise((r) => setTimeout(r, 1));
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
