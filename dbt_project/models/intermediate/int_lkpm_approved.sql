-- Approved LKPM reports only (status Disetujui): the others are not realisation yet. PMA is reported in
-- US$ thousand and converted to Rp million at the APBN exchange-rate assumption of the report's year
-- (US$ thousand x Rp/US$ / 1000 = Rp million), never at a market rate; PMDN is already in Rp million.
select
    report.*,
    rate.rate_idr_per_usd as exchange_rate,
    case
        when report.investor_type = 'PMA' then report.investment_usd_thousand * rate.rate_idr_per_usd / 1000
        else report.investment_idr_million
    end as investment_idr_million_total
from {{ ref('stg_lkpm__report') }} as report
left join {{ ref('apbn_exchange_rate') }} as rate on rate.year = report.year
where report.report_status = 'approved'
