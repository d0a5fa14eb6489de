/**
 * The API's routes: which method and path template goes to which handler. API Gateway, the local
 * server and the OpenAPI document all follow this table, so a route exists everywhere or nowhere.
 */

/** The deployable handler a route belongs to. */
export type RouteTarget = 'ingest' | 'result' | 'open-inference';

export interface ApiRoute {
  readonly method: 'GET' | 'POST';
  /** The path template, as API Gateway's `resource` spells it. */
  readonly resource: string;
  readonly target: RouteTarget;
}

export const API_ROUTES: readonly ApiRoute[] = [
  { method: 'POST', resource: '/v1/models/{model}/infer', target: 'ingest' },
  { method: 'GET', resource: '/v1/requests/{id}', target: 'result' },
  { method: 'GET', resource: '/v1/models', target: 'result' },
  { method: 'GET', resource: '/v1/models/{model}/config', target: 'result' },
  { method: 'GET', resource: '/openapi.json', target: 'result' },
  // The Open Inference Protocol (v2 REST), for clients of Triton, KServe and Seldon.
  { method: 'GET', resource: '/v2/health/live', target: 'open-inference' },
  { method: 'GET', resource: '/v2/health/ready', target: 'open-inference' },
  { method: 'GET', resource: '/v2/models/{model}', target: 'open-inference' },
  { method: 'GET', resource: '/v2/models/{model}/ready', target: 'open-inference' },
  { method: 'POST', resource: '/v2/models/{model}/infer', target: 'open-inference' },
];

/**
 * Routes a worker serves itself rather than through API Gateway: a token stream needs a direct
 * connection to the process that decodes (docs/generation.md). They are in the same API document;
 * the local server mounts them beside the API's routes when it is given a generation handler.
 */
export const WORKER_ROUTES: readonly { readonly method: 'POST'; readonly resource: string }[] = [
  { method: 'POST', resource: '/v1/models/{model}/generate' },
];

/** The model of a worker route's path (`/v1/models/{model}/generate`), or undefined when it is not one. */
export function matchGenerateRoute(path: string): { model: string } | { invalid: true } | undefined {
  const match = /^\/v1\/models\/([^/]+)\/generate$/.exec(path);
  if (!match) return undefined;
  try {
    return { model: decodeURIComponent(match[1] as string) };
  } catch {
    return { invalid: true };
  }
}

export type RouteMatch =
  | { readonly kind: 'found'; readonly route: ApiRoute; readonly pathParameters: Record<string, string> }
  | { readonly kind: 'wrong-method'; readonly allowed: readonly string[] }
  | { readonly kind: 'not-found' };

/**
 * Finds the route of a request path (without query string). Path parameters are one whole,
 * non-empty segment each, percent-decoded; a segment that does not decode matches nothing.
 */
export function matchRoute(
  method: string,
  path: string,
  routes: readonly ApiRoute[] = API_ROUTES,
): RouteMatch {
  const segments = path.split('/');
  const allowed: string[] = [];
  let found: { route: ApiRoute; pathParameters: Record<string, string> } | undefined;
  for (const route of routes) {
    const pathParameters = matchTemplate(route.resource.split('/'), segments);
    if (pathParameters === undefined) continue;
    allowed.push(route.method);
    if (route.method === method.toUpperCase()) found ??= { route, pathParameters };
  }
  if (found !== undefined) return { kind: 'found', ...found };
  return allowed.length > 0 ? { kind: 'wrong-method', allowed } : { kind: 'not-found' };
}

function matchTemplate(
  template: readonly string[],
  segments: readonly string[],
): Record<string, string> | undefined {
  if (template.length !== segments.length) return undefined;
  const parameters: Record<string, string> = {};
  for (let i = 0; i < template.length; i++) {
    const expected = template[i] as string;
    const actual = segments[i] as string;
    const name = /^\{(\w+)\}$/.exec(expected)?.[1];
    if (name === undefined) {
      if (expected !== actual) return undefined;
      continue;
    }
    if (actual.length === 0) return undefined;
    try {
      parameters[name] = decodeURIComponent(actual);
    } catch {
      return undefined;
    }
  }
  return parameters;
}
