import { Alert } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { ApiError } from "@/lib/api/problem";

/** A request's error as the API explained it (problem+json title and detail). */
export function ProblemAlert({ error }: { error: unknown }) {
  const { t } = useTranslation();
  if (!error) return null;
  const title =
    error instanceof ApiError ? (error.problem.title ?? t("errors.request")) : t("errors.request");
  const detail = error instanceof ApiError ? error.problem.detail : String(error);
  return (
    <Alert color="red" title={title} role="alert">
      {detail}
    </Alert>
  );
}
