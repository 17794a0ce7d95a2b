//! verify-insurance: triggered by `insurance.commands.verify` (VerifyInsurance, sent by the
//! booking saga); emits InsuranceVerified or InsuranceFailed (with a reason an agent can read
//! out) through the outbox: `app::insurance::verify` with the `InsuranceChecker` it is given,
//! by default `PolicyOnFile`, the rules applied to the policy stored with the patient.

use app::insurance::{verify, InsuranceChecker, PolicyOnFile};
use async_trait::async_trait;
use contract::VerifyInsurance;
use messaging::{FunctionContext, HandlerError, KafkaFunction};
use sqlx::PgConnection;

pub struct VerifyInsuranceFn {
    pub checker: Box<dyn InsuranceChecker>,
}

impl Default for VerifyInsuranceFn {
    fn default() -> Self {
        Self {
            checker: Box::new(PolicyOnFile),
        }
    }
}

impl std::fmt::Debug for VerifyInsuranceFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyInsuranceFn").finish_non_exhaustive()
    }
}

#[async_trait]
impl KafkaFunction for VerifyInsuranceFn {
    const NAME: &'static str = "verify-insurance";
    type Input = VerifyInsurance;

    async fn apply(
        &self,
        ctx: &FunctionContext,
        tx: &mut PgConnection,
        cmd: Self::Input,
    ) -> Result<(), HandlerError> {
        let checker = self.checker.as_ref();
        Ok(verify(tx, ctx.outbox(), checker, &cmd, chrono::Utc::now()).await?)
    }
}
