/**
 * `--store off`: the RequestStore that keeps nothing. record() returns false without counting a
 * drop, lookups find nothing, feedback gets not_found, and version changes fail with `store_off`.
 */
import type { FeedbackResult, PromotedVersions, RequestStore, StoredRecord, StoreStats, VersionStore } from './types.ts';
import { VersionError } from './versions.ts';

const NONE: PromotedVersions = { model: null, selector: null, seq: 0 };
const off = async (): Promise<never> => {
  throw new VersionError('store_off', 'the store is off (--store off): versions cannot change');
};

/** A store that records nothing, with the same interface as the real ones. */
export class OffStore implements RequestStore {
  readonly engine = 'off' as const;
  readonly versions: VersionStore = {
    add: off,
    list: async () => [],
    files: off,
    promoted: async () => NONE,
    promote: off,
    refuse: off,
    rollback: off,
    watch: (listener) => {
      setImmediate(() => listener(NONE));
      return () => undefined;
    },
  };

  record(): boolean {
    return false;
  }
  async addFeedback(): Promise<FeedbackResult> {
    return { status: 'not_found' };
  }
  async getRecord(): Promise<StoredRecord | null> {
    return null;
  }
  async deleteRecord(): Promise<boolean> {
    return false;
  }
  async flush(): Promise<void> {}
  async deleteOlderThan(): Promise<number> {
    return 0;
  }
  async mine(): Promise<StoredRecord[]> {
    return [];
  }
  stats(): StoreStats {
    return { queued: 0, written: 0, dropped: 0, failed: 0, pending: 0 };
  }
  async close(): Promise<void> {}
}
