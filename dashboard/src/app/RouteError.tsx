import { Alert, Button, Container, Stack } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { useRouteError } from "react-router";

export function RouteError() {
  const { t } = useTranslation();
  const error = useRouteError();
  return (
    <Container size="sm" py="xl">
      <Stack>
        <Alert color="red" title={t("errors.page")}>
          {error instanceof Error ? error.message : String(error)}
        </Alert>
        <Button variant="light" onClick={() => window.location.reload()}>
          {t("errors.reload")}
        </Button>
      </Stack>
    </Container>
  );
}
