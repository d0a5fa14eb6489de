/**
 * The dashboard's two routes as proxy handlers, so the same code serves behind the local server
 * and, on AWS, behind API Gateway: `GET /dashboard` (the page) and `GET /v1/dashboard` (the
 * figures it shows, as JSON; `windowSeconds` from 1 to 3600, default 60). A bad query is a 400
 * that says what is allowed; a failure to read the tables is a 503, never a half-filled page.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { z } from 'zod';
import { errorResult, jsonResult, messageOf, problem, type ApiHandler } from '../api/http';
import { dashboardPage } from './dashboard-page';
import { buildDashboardSnapshot, type DashboardSources } from './dashboard-snapshot';

export const DASHBOARD_PAGE_PATH = '/dashboard';
export const DASHBOARD_DATA_PATH = '/v1/dashboard';
export const MAX_DASHBOARD_WINDOW_SECONDS = 3600;

const querySchema = z
  .object({
    windowSeconds: z.coerce.number().int().min(1).max(MAX_DASHBOARD_WINDOW_SECONDS).default(60),
  })
  .strict();

function page(): Promise<APIGatewayProxyResult> {
  return Promise.resolve({
    statusCode: 200,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
    body: dashboardPage(),
  });
}

/** The handlers by path; the local server mounts them with `localRoutes`. */
export function createDashboardHandlers(sources: DashboardSources): Record<string, ApiHandler> {
  const data: ApiHandler = async (event) => {
    const parsed = querySchema.safeParse(event.queryStringParameters ?? {});
    if (!parsed.success) {
      return errorResult(
        problem(
          400,
          'invalid_query',
          `the only query parameter is windowSeconds, a whole number of seconds from 1 to ${MAX_DASHBOARD_WINDOW_SECONDS}; got ${JSON.stringify(event.queryStringParameters)}`,
        ),
      );
    }
    try {
      return jsonResult(200, await buildDashboardSnapshot(sources, parsed.data.windowSeconds * 1000));
    } catch (error) {
      process.stderr.write(
        `${JSON.stringify({ level: 'error', message: 'dashboard read failed', error: messageOf(error) })}\n`,
      );
      return errorResult(
        problem(503, 'unavailable', 'the exit logs or configs could not be read; retry shortly'),
      );
    }
  };
  return { [DASHBOARD_PAGE_PATH]: page, [DASHBOARD_DATA_PATH]: data };
}
