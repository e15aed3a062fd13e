export const PASSWORD_REGEX = /^(?=.*[A-Z])(?=.*[0-9]).{8,}$/;
export const PASSWORD_MIN_LENGTH = 8;
export const passwordField = { type: 'password', name: 'password', placeholder: 'Password' };
const { password, ...rest } = user;
