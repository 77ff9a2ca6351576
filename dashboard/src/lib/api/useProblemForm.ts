import type { UseFormReturnType } from "@mantine/form";
import { ApiError, fieldErrors } from "./problem";

/**
 * Puts a 422's field errors next to the fields they name; answers whether it did, so the
 * caller shows a general alert only for the rest.
 */
export function showFieldErrors<T>(form: UseFormReturnType<T>, error: unknown): boolean {
  if (!(error instanceof ApiError) || error.status !== 422) return false;
  const errors = fieldErrors(error.problem);
  const known = Object.keys(errors);
  if (known.length === 0) return false;
  form.setErrors(errors);
  return true;
}
