import { Button, Card, Grid, Group, Stack, Table, Text, Title } from "@mantine/core";
import { DatePickerInput, type DatesRangeValue } from "@mantine/dates";
import { IconDownload } from "@tabler/icons-react";
import dayjs from "dayjs";
import "dayjs/locale/pt-br";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Chart } from "@/components/Chart";
import { ProblemAlert } from "@/components/ProblemAlert";
import { useTenantFormat } from "@/features/tenant/api/tenant";
import { formatMoney, formatNumber, formatPercent } from "@/lib/format";
import {
  downloadCsv,
  runsPerDay,
  toCsv,
  useAutomationsReport,
  useLeadsReport,
  usePipelinesReport,
  type Period,
} from "../api/reports";

function Section({
  title,
  csv,
  children,
}: {
  title: string;
  csv?: { name: string; header: string[]; rows: (string | number | null)[][] };
  children: React.ReactNode;
}) {
  const { t } = useTranslation();
  return (
    <Card withBorder>
      <Group justify="space-between" mb="sm">
        <Title order={2} size="h4">
          {title}
        </Title>
        {csv && (
          <Button
            size="xs"
            variant="default"
            leftSection={<IconDownload size={14} aria-hidden />}
            onClick={() => downloadCsv(csv.name, toCsv(csv.header, csv.rows))}
            aria-label={t("reports.downloadCsvOf", { title })}
          >
            CSV
          </Button>
        )}
      </Group>
      {children}
    </Card>
  );
}

function DataTable({ header, rows }: { header: string[]; rows: (string | number)[][] }) {
  return (
    <Table striped withTableBorder mt="sm">
      <Table.Thead>
        <Table.Tr>
          {header.map((h) => (
            <Table.Th key={h}>{h}</Table.Th>
          ))}
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {rows.map((row, index) => (
          <Table.Tr key={index}>
            {row.map((cell, column) => (
              <Table.Td key={column}>{cell}</Table.Td>
            ))}
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function Component() {
  const { t, i18n } = useTranslation();
  const format = useTenantFormat();
  const [range, setRange] = useState<DatesRangeValue<string>>([
    dayjs().subtract(29, "day").format("YYYY-MM-DD"),
    dayjs().format("YYYY-MM-DD"),
  ]);
  const period: Period =
    range[0] && range[1] ? { from: dayjs(range[0]).format("YYYY-MM-DD"), to: dayjs(range[1]).format("YYYY-MM-DD") } : {};
  const leads = useLeadsReport();
  const pipelines = usePipelinesReport(period);
  const automations = useAutomationsReport(period);
  const pipeline = pipelines.data?.pipelines[0];
  const days = automations.data ? runsPerDay(automations.data) : [];
  const statuses = Object.entries(leads.data?.by_status ?? {});
  const stageRows = (pipeline?.stages ?? []).map((stage) => [
    stage.name,
    stage.deals,
    stage.values.map((v) => formatMoney(v.value, v.currency, format)).join(" · ") || "—",
  ]);
  const error = leads.error ?? pipelines.error ?? automations.error;
  return (
    <Stack>
      <Group justify="space-between" align="end">
        <Title order={1}>{t("reports.title")}</Title>
        <DatePickerInput
          type="range"
          label={t("reports.period")}
          value={range}
          onChange={setRange}
          locale={i18n.language === "en" ? "en" : "pt-br"}
          valueFormat="DD/MM/YYYY"
          maxDate={new Date()}
          w={260}
        />
      </Group>
      {error && <ProblemAlert error={error} />}
      <Grid>
        <Grid.Col span={{ base: 12, md: 6 }}>
          <Section
            title={t("reports.leadsByStatus")}
            csv={{ name: "leads-by-status.csv", header: ["status", "leads"], rows: statuses }}
          >
            <Chart
              label={t("reports.leadsByStatus")}
              option={{
                tooltip: {},
                legend: { bottom: 0 },
                series: [
                  {
                    type: "pie",
                    radius: ["40%", "70%"],
                    data: statuses.map(([status, count]) => ({ name: t(`leads.status.${status}`), value: count })),
                  },
                ],
              }}
            />
            <Text size="sm">
              {t("reports.averageLeadTime")}:{" "}
              <b>
                {leads.data?.average_days_to_convert == null
                  ? "—"
                  : t("reports.days", { count: Number(formatNumber(leads.data.average_days_to_convert, format, 1)) })}
              </b>
            </Text>
            <DataTable
              header={[t("fields.status"), t("reports.leads")]}
              rows={statuses.map(([status, count]) => [t(`leads.status.${status}`), formatNumber(count, format)])}
            />
          </Section>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 6 }}>
          <Section
            title={t("reports.dealsByStage")}
            csv={{
              name: "deals-by-stage.csv",
              header: ["stage", "deals", "currency", "value"],
              rows: (pipeline?.stages ?? []).flatMap((s) =>
                s.values.length ? s.values.map((v) => [s.name, v.deals, v.currency, v.value]) : [[s.name, 0, null, null]],
              ),
            }}
          >
            <Chart
              label={t("reports.dealsByStage")}
              option={{
                tooltip: {},
                grid: { left: 40, right: 10, top: 10, bottom: 30 },
                xAxis: { type: "category", data: pipeline?.stages.map((s) => s.name) ?? [] },
                yAxis: { type: "value", minInterval: 1 },
                series: [{ type: "bar", name: t("reports.deals"), data: pipeline?.stages.map((s) => s.deals) ?? [] }],
              }}
            />
            <Text size="sm">
              {t("overview.conversion")}: <b>{formatPercent(pipeline?.conversion_rate, format)}</b> ·{" "}
              {t("reports.averageDaysToClose")}:{" "}
              <b>{pipeline?.average_days_to_close == null ? "—" : formatNumber(pipeline.average_days_to_close, format, 1)}</b>
            </Text>
            <DataTable header={[t("reports.stage"), t("reports.deals"), t("fields.value")]} rows={stageRows} />
          </Section>
        </Grid.Col>
        <Grid.Col span={12}>
          <Section
            title={t("reports.runsPerDay")}
            csv={{
              name: "automation-runs.csv",
              header: ["date", "runs", "succeeded", "failed", "running"],
              rows: days.map((d) => [d.date, d.runs, d.succeeded, d.failed, d.running]),
            }}
          >
            <Chart
              label={t("reports.runsPerDay")}
              option={{
                tooltip: { trigger: "axis" },
                legend: { bottom: 0 },
                grid: { left: 40, right: 10, top: 10, bottom: 50 },
                xAxis: { type: "category", data: days.map((d) => d.date) },
                yAxis: { type: "value", minInterval: 1 },
                series: [
                  { type: "bar", stack: "runs", name: t("reports.succeeded"), data: days.map((d) => d.succeeded) },
                  { type: "bar", stack: "runs", name: t("reports.failed"), data: days.map((d) => d.failed) },
                  { type: "bar", stack: "runs", name: t("reports.running"), data: days.map((d) => d.running) },
                ],
              }}
            />
            <DataTable
              header={[t("reports.automation"), t("reports.runs"), t("reports.succeeded"), t("reports.failed"), t("reports.running")]}
              rows={(automations.data?.automations ?? []).map((a) => [a.name, a.runs, a.succeeded, a.failed, a.running])}
            />
          </Section>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
