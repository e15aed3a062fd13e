export const seedUsers = [
  {
    email: 'tim@apple.dev',
    passwordHash: '$2b$10$3LwXjJRtLsfx4hLuuXhxt.3mWgismTiZFCZSG3z9kDrSfsrBl0fT6',
  },
];
