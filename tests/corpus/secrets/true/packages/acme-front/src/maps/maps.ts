export const GOOGLE_MAPS_KEY = 'AIza5uSeo0cGoUJNCap_8Gymek6eaSAFtN9FAQG';
