import { Box, Center, Group, Paper, Stack, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { Navigate, Outlet, useSearchParams } from "react-router";
import { useSessionState } from "@/lib/auth/useSession";
import { HeaderControls } from "./HeaderControls";

/** Login and sign-up; a signed-in visitor goes on to where they were heading. */
export function PublicLayout() {
  const { t } = useTranslation();
  const state = useSessionState();
  const [params] = useSearchParams();
  if (state.status === "signed-in") {
    const next = params.get("next");
    return <Navigate to={next && next.startsWith("/") ? next : "/"} replace />;
  }
  return (
    <Box mih="100vh" p="md">
      <Group justify="flex-end">
        <HeaderControls />
      </Group>
      <Center mt="xl">
        <Paper withBorder shadow="sm" p="xl" radius="md" w={420} maw="100%">
          <Stack>
            <Title order={1} size="h3" ta="center">
              {t("app.name")}
            </Title>
            <main>
              <Outlet />
            </main>
          </Stack>
        </Paper>
      </Center>
    </Box>
  );
}
