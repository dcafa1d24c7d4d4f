/**
 * Store and version failures as domain errors, for both transports: an unknown version is a 404
 * naming the field, versions with the store off a `store_off` error, a refused change a 400.
 */
import { DisabledError, InvalidRequestError, NotFoundError, SkipserveError } from '../errors.ts';
import { VersionError } from '../store/versions.ts';

/** The message every store-backed route gives when the store is off. */
export const STORE_OFF_MESSAGE = 'the request store is off on this server (--store off): records, feedback and versions are not kept';

/** A DisabledError saying the store is off. */
export function storeOff(): DisabledError {
  return new DisabledError(STORE_OFF_MESSAGE, 'store_off');
}

/** Maps a VersionError (others pass through) to the domain error of its code; `field` names the request field. */
export function fromVersionError(err: unknown, field: string | null): unknown {
  if (!(err instanceof VersionError)) return err;
  switch (err.code) {
    case 'not_found':
      return new NotFoundError(err.message, field);
    case 'store_off':
      return storeOff();
    case 'invalid':
    case 'conflict':
    case 'no_previous':
      return new InvalidRequestError(err.message, field, err.code === 'invalid' ? 'invalid_value' : err.code);
  }
  return new SkipserveError(err.message);
}
