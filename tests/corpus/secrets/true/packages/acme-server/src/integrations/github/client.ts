import { Octokit } from '@octokit/rest';

const octokit = new Octokit({ auth: 'ghp_NiPW4tqJpaj3xJvW3I7HnPnZ2E5Q0zbxUVcj' });
export default octokit;
