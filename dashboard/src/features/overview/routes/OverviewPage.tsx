import { Card, Grid, SimpleGrid, Skeleton, Stack, Text, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { Chart } from "@/components/Chart";
import { ProblemAlert } from "@/components/ProblemAlert";
import {
  openDeals,
  runsPerDay,
  useAutomationsReport,
  useLeadsReport,
  usePipelinesReport,
} from "@/features/reports/api/reports";
import { useTenantFormat } from "@/features/tenant/api/tenant";
import { formatMoney, formatNumber, formatPercent } from "@/lib/format";

function Kpi({ label, value, hint, loading }: { label: string; value: string; hint?: string; loading: boolean }) {
  return (
    <Card withBorder padding="md">
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      {loading ? (
        <Skeleton h={32} mt={4} />
      ) : (
        <Text fz={28} fw={700} data-testid={`kpi-${label}`}>
          {value}
        </Text>
      )}
      {hint && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Card>
  );
}

export function Component() {
  const { t } = useTranslation();
  const format = useTenantFormat();
  const leads = useLeadsReport();
  const pipelines = usePipelinesReport({});
  const automations = useAutomationsReport({});
  const pipeline = pipelines.data?.pipelines[0];
  const open = pipeline ? openDeals(pipeline) : null;
  const openValue = open
    ? [...open.values].map(([currency, value]) => formatMoney(value, currency, format)).join(" · ") ||
      formatMoney(0, format.currency, format)
    : "—";
  const days = automations.data ? runsPerDay(automations.data) : [];
  const error = leads.error ?? pipelines.error ?? automations.error;
  return (
    <Stack>
      <Title order={1}>{t("overview.title")}</Title>
      {error && <ProblemAlert error={error} />}
      <SimpleGrid cols={{ base: 1, xs: 2, md: 5 }}>
        <Kpi label={t("overview.newLeads")} value={formatNumber(leads.data?.by_status.new ?? 0, format)} hint={t("overview.ofTotal", { total: formatNumber(leads.data?.total ?? 0, format) })} loading={leads.isPending} />
        <Kpi label={t("overview.openDeals")} value={formatNumber(open?.deals ?? 0, format)} loading={pipelines.isPending} />
        <Kpi label={t("overview.openValue")} value={openValue} loading={pipelines.isPending} />
        <Kpi label={t("overview.conversion")} value={formatPercent(pipeline?.conversion_rate, format)} loading={pipelines.isPending} />
        <Kpi
          label={t("overview.automationRuns")}
          value={formatNumber(automations.data?.totals.runs ?? 0, format)}
          hint={t("overview.failures", { count: automations.data?.totals.failed ?? 0 })}
          loading={automations.isPending}
        />
      </SimpleGrid>
      <Grid>
        <Grid.Col span={{ base: 12, md: 6 }}>
          <Card withBorder>
            <Title order={2} size="h4" mb="sm">
              {t("reports.dealsByStage")}
            </Title>
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
          </Card>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 6 }}>
          <Card withBorder>
            <Title order={2} size="h4" mb="sm">
              {t("reports.runsPerDay")}
            </Title>
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
          </Card>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
