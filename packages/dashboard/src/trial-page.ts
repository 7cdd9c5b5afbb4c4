import { formatClassificationReport } from '@braintune/model-core/metrics';
import { trialDetail, type Db, type TrialDetail } from '@braintune/coordinator';

/** The trial page's data: the read model's trial detail and its report as text. */
export type TrialPage = TrialDetail & { reportText: string | null };

export async function trialPage(db: Db, trialId: string): Promise<TrialPage> {
  const detail = await trialDetail(db, trialId);
  return {
    ...detail,
    reportText: detail.evaluation ? formatClassificationReport(detail.evaluation.report) : null,
  };
}
