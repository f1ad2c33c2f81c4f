import { sweepPart } from './sweep-config.js';

// One file per part so that vitest runs the parts on every core.
sweepPart(1);
