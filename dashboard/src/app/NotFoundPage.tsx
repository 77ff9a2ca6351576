import { Stack, Text, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";

export function Component() {
  const { t } = useTranslation();
  return (
    <Stack>
      <Title order={1}>{t("errors.notFound")}</Title>
      <Text>
        <Link to="/">{t("nav.overview")}</Link>
      </Text>
    </Stack>
  );
}
