//! GetAccountSettings and reserved concurrency (Put/Get/DeleteFunctionConcurrency).

use crate::records::{
    self, CONCURRENCY, FUNCTIONS, FunctionRecord, VersionRecord, load, save, versions_ns,
};
use crate::{ControlPlane, Result};
use flint_store::{Pages, Transaction};
use flint_types::model::{AccountLimit, AccountSettings, AccountUsage};
use flint_types::{ApiError, FunctionRef};

/// Lambda's default code storage quota (75 GB).
const TOTAL_CODE_SIZE_LIMIT: u64 = 80_530_636_800;

impl ControlPlane {
    pub(crate) fn reserved_total(
        &self,
        tx: &mut dyn Transaction,
        except: Option<&str>,
    ) -> Result<i64> {
        let mut total = 0;
        let mut pages = Pages::new(CONCURRENCY);
        while let Some(page) = pages.next_page(tx)? {
            for (name, bytes) in page {
                if Some(name.as_str()) != except {
                    total += records::decode::<i64>(CONCURRENCY, &name, &bytes)?;
                }
            }
        }
        Ok(total)
    }

    /// GetAccountSettings.
    pub fn account_settings(&self) -> Result<AccountSettings> {
        let mut tx = self.meta.begin()?;
        let reserved = self.reserved_total(&mut *tx, None)?;
        // Provisioned concurrency of functions without a reservation is
        // allocated from the unreserved pool too.
        let provisioned = self.provisioned_unreserved_total(&mut *tx, None)?;
        let mut count = 0u64;
        let mut code = 0u64;
        let mut functions = Pages::new(FUNCTIONS);
        while let Some(page) = functions.next_page(&mut *tx)? {
            for (name, bytes) in page {
                let rec: FunctionRecord = records::decode(FUNCTIONS, &name, &bytes)?;
                count += 1;
                code += rec.latest.code_size;
                let vns = versions_ns(&name);
                let mut versions = Pages::new(&vns);
                while let Some(vs) = versions.next_page(&mut *tx)? {
                    for (k, vb) in vs {
                        code += records::decode::<VersionRecord>(&vns, &k, &vb)?
                            .config
                            .code_size;
                    }
                }
            }
        }
        let limits = &self.settings.package_limits;
        Ok(AccountSettings {
            account_limit: AccountLimit {
                total_code_size: TOTAL_CODE_SIZE_LIMIT,
                code_size_unzipped: limits.max_unzipped_bytes,
                code_size_zipped: limits.max_zipped_bytes,
                concurrent_executions: self.settings.account_concurrency,
                unreserved_concurrent_executions: self.settings.account_concurrency
                    - reserved
                    - provisioned,
            },
            account_usage: AccountUsage {
                total_code_size: code,
                function_count: count,
            },
        })
    }

    /// PutFunctionConcurrency: reserve executions for one function, keeping
    /// Lambda's unreserved minimum for everything else.
    pub fn put_function_concurrency(&self, fref: &FunctionRef, reserved: i64) -> Result<i64> {
        // AWS's order (its recorded test_function_concurrency_exceptions): a
        // qualifier, then the function (named as `:$LATEST`), then the value.
        if fref.qualifier.is_some() {
            return Err(ApiError::InvalidParameterValue(
                "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.".into(),
            )
            .into());
        }
        let mut tx = self.meta.begin()?;
        if load::<crate::records::FunctionRecord>(&mut *tx, crate::records::FUNCTIONS, &fref.name)?
            .is_none()
        {
            return Err(ApiError::function_not_found(
                &self.resources().qualified_arn(&fref.name, "$LATEST"),
            )
            .into());
        }
        if reserved < 0 {
            return Err(ApiError::too_small(reserved, "reservedConcurrentExecutions", 0).into());
        }
        let provisioned = self.provisioned_total(&mut *tx, &fref.name, None)?;
        if reserved < provisioned {
            return Err(ApiError::InvalidParameterValue(format!(
                "ReservedConcurrentExecutions {reserved} should not be lower than function's total provisioned concurrency [{provisioned}]."
            ))
            .into());
        }
        let others = self.reserved_total(&mut *tx, Some(&fref.name))?;
        // Provisioned concurrency of the other unreserved functions (this
        // function's own moves inside its reservation).
        let currently_reserved = tx.get(CONCURRENCY, &fref.name)?.is_some();
        let others_provisioned = self.provisioned_unreserved_total(&mut *tx, None)?
            - if currently_reserved { 0 } else { provisioned };
        let unreserved = self.settings.account_concurrency - others - others_provisioned - reserved;
        if unreserved < self.settings.unreserved_minimum {
            return Err(ApiError::InvalidParameterValueUntyped(format!(
                "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{}].",
                self.settings.unreserved_minimum
            ))
            .into());
        }
        save(&mut *tx, CONCURRENCY, &fref.name, &reserved)?;
        self.commit(tx)?;
        Ok(reserved)
    }

    /// GetFunctionConcurrency: `None` when nothing is reserved.
    pub fn get_function_concurrency(&self, fref: &FunctionRef) -> Result<Option<i64>> {
        self.require_unqualified(fref)?;
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)?;
        load(&mut *tx, CONCURRENCY, &fref.name)
    }

    /// DeleteFunctionConcurrency.
    pub fn delete_function_concurrency(&self, fref: &FunctionRef) -> Result<()> {
        self.require_unqualified(fref)?;
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)?;
        tx.delete(CONCURRENCY, &fref.name)?;
        self.commit(tx)?;
        Ok(())
    }
}
