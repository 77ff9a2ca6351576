/** RFC 9457 problem+json as the API answers it (422 adds per-field errors). */
export interface FieldError {
  loc: (string | number)[];
  msg: string;
  type?: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(status: number, problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** The body field a 422 error names: ["body", "email"] -> "email", custom fields keep their path. */
export function fieldOf(error: FieldError): string {
  const loc = error.loc[0] === "body" ? error.loc.slice(1) : error.loc;
  return loc.map(String).join(".");
}

/** Field errors of a problem keyed by field name, for a form's `setErrors`. */
export function fieldErrors(problem: Problem): Record<string, string> {
  const out: Record<string, string> = {};
  for (const error of problem.errors ?? []) {
    const field = fieldOf(error);
    if (field && !(field in out)) out[field] = error.msg;
  }
  return out;
}

/**
 * Unwraps an openapi-fetch result: the data, or an ApiError carrying the problem. TanStack
 * Query hooks call this so errors reach components as ApiError.
 */
export async function unwrap<T>(
  call: Promise<{ data?: unknown; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) {
    const problem =
      error && typeof error === "object" ? (error as Problem) : { title: response.statusText };
    throw new ApiError(response.status, problem);
  }
  return data as T;
}
