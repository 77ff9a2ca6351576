import { Alert, Anchor, Button, Group, Stack, Table, Text, Title } from "@mantine/core";
import { IconPlus } from "@tabler/icons-react";
import dayjs from "dayjs";
import { useTranslation } from "react-i18next";
import { Link } from "react-router";
import { ProblemAlert } from "@/components/ProblemAlert";
import { useAutomationsReport } from "@/features/reports/api/reports";
import { can } from "@/lib/auth/permissions";
import { useSession } from "@/lib/auth/useSession";

export function Component() {
  const { t } = useTranslation();
  const { role } = useSession();
  // The API has no list of automations yet: the runs report of the last year names every
  // automation that ran, with its counts.
  const report = useAutomationsReport({
    from: dayjs().subtract(364, "day").format("YYYY-MM-DD"),
    to: dayjs().format("YYYY-MM-DD"),
  });
  const rows = report.data?.automations ?? [];
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>{t("automations.title")}</Title>
        {can(role, "automations:create") && (
          <Button component={Link} to="/automations/new" leftSection={<IconPlus size={16} aria-hidden />}>
            {t("automations.new")}
          </Button>
        )}
      </Group>
      <Alert color="gray">{t("automations.listNote")}</Alert>
      {report.error && <ProblemAlert error={report.error} />}
      <Table withTableBorder striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t("fields.name")}</Table.Th>
            <Table.Th>{t("reports.runs")}</Table.Th>
            <Table.Th>{t("reports.succeeded")}</Table.Th>
            <Table.Th>{t("reports.failed")}</Table.Th>
            <Table.Th>{t("reports.running")}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((automation) => (
            <Table.Tr key={automation.automation_id}>
              <Table.Td>
                <Anchor component={Link} to={`/automations/${automation.automation_id}`}>
                  {automation.name}
                </Anchor>
              </Table.Td>
              <Table.Td>{automation.runs}</Table.Td>
              <Table.Td>{automation.succeeded}</Table.Td>
              <Table.Td>{automation.failed}</Table.Td>
              <Table.Td>{automation.running}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {report.data && rows.length === 0 && <Text c="dimmed">{t("automations.empty")}</Text>}
    </Stack>
  );
}
