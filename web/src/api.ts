import { createClient, type ProblemDetails, type Schemas } from '../../clients/typescript/index';
import { currentToken, signOut } from './session';

export type { Schemas, ProblemDetails };

/** The typed client of the API, on this origin (the console is served by the service itself). */
export const api = createClient({ baseUrl: window.location.origin, token: currentToken });
api.use({
  onResponse({ response }) {
    // The token expired or was revoked: back to the sign-in page.
    if (response.status === 401) signOut();
    return response;
  },
});

/** A problem details answer, or a network failure (status 0), as an Error for TanStack Query. */
export class ApiError extends Error {
  constructor(readonly problem: ProblemDetails) {
    super(problem.detail);
  }
  get status(): number {
    return this.problem.status;
  }
}

/** The data of an openapi-fetch answer, or its problem thrown as an ApiError. */
export async function call<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result;
  try {
    result = await pending;
  } catch (error) {
    throw new ApiError({
      type: 'about:blank',
      title: 'Network error',
      status: 0,
      detail: error instanceof Error ? error.message : String(error),
    });
  }
  if (result.error !== undefined || !result.response.ok) {
    const problem = result.error as ProblemDetails | undefined;
    throw new ApiError(
      problem && typeof problem === 'object' && 'status' in problem
        ? problem
        : {
            type: 'about:blank',
            title: result.response.statusText,
            status: result.response.status,
            detail: result.response.statusText,
          },
    );
  }
  return result.data as T;
}
