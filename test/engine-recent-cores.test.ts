// The cores of requests that finished a moment ago, offered beside the live ones to policies that
// share a core: within the window, with their last request's rows, never twice for a live core.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentCores } from '../src/engine/recent-cores.ts';

const core = (layer: number) => ({ skipAttention: [layer], skipMlp: [], maskHeads: {} });

test('a finished request keeps its core on offer for the window, with its rows; live cores are not repeated', () => {
  const r = new RecentCores(1000);
  r.finished('a', core(2), 4, 0);
  r.finished('b', core(3), 8, 500);
  assert.deepEqual(r.recent(new Set(), 900), [{ plan: core(2), rows: 4, recent: true }, { plan: core(3), rows: 8, recent: true }]);
  assert.deepEqual(r.recent(new Set(['a']), 900), [{ plan: core(3), rows: 8, recent: true }], 'a live core is offered as live, not again');
  assert.deepEqual(r.recent(new Set(), 1200), [{ plan: core(3), rows: 8, recent: true }], 'past the window: gone');
  r.finished('b', core(3), 2, 1300);
  assert.deepEqual(r.recent(new Set(), 1400), [{ plan: core(3), rows: 2, recent: true }], 'the last request of a core sets its rows');
  assert.deepEqual(r.recent(new Set(), 2400), []);
});
