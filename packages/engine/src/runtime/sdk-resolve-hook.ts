/**
 * A module resolution hook (registered by plugin-module.ts): a plugin that imports `@weft/sdk`
 * but has no copy of its own (a plugin directory outside any npm project) gets the engine's.
 */
let sdkUrl: string | undefined;

export function initialize(data: { sdkUrl: string }): void {
  sdkUrl = data.sdkUrl;
}

type Resolved = { url: string; shortCircuit?: boolean };

export async function resolve(
  specifier: string,
  context: unknown,
  nextResolve: (specifier: string, context: unknown) => Promise<Resolved>,
): Promise<Resolved> {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (specifier === '@weft/sdk' && sdkUrl) return { url: sdkUrl, shortCircuit: true };
    throw error;
  }
}
