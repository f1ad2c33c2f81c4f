import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/grpc.ts', 'src/auth.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['@grpc/grpc-js'],
});
