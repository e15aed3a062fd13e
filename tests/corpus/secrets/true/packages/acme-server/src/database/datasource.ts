export const url = 'postgres://crm_admin:VsluaR-p49uEy@db.prod.acme-corp.com:5432/crm';
