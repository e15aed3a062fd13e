export const SLACK_BOT_TOKEN = 'xoxb-049344411960-4989245874267-p6eem00oejstpg2o380qjbwd';
