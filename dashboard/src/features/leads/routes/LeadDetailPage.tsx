import { RecordDetailPage } from "@/features/records/components/RecordDetailPage";

export function Component() {
  return <RecordDetailPage kind="leads" />;
}
