// Worker thread entry: registers the TypeScript loader, then starts the model worker.
import { register } from 'tsx/esm/api';

register();
await import('./runner-worker.ts');
